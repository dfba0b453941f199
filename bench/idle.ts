import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `npm run bench:idle`: what watching an idle host costs. Starts
 * `chainwatch watch` (whole host, defaults, output discarded) for each
 * `--poll-us` setting, waits until the probe is attached and settled, then
 * counts the CPU time (utime + stime, /proc/PID/stat) chainwatch and its
 * bpftrace use over IDLE_SECONDS. Run it on a quiet machine: the whole host
 * is watched, so anything else running shows up as work.
 */
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const SETTINGS = (process.env.BENCH_IDLE_POLL_US ?? '1000,0,4000').split(',').map(Number);
const main = join(import.meta.dirname, '../src/cli/main.js');
const TICKS_PER_S = 100;

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may hold spaces) start at ") "
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function childBpftrace(parent: number): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === parent && stat.includes('(bpftrace)')) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(pollUs: number): Promise<{ chainwatch: number; bpftrace: number; ticks: number }> {
  const child = spawn(process.execPath, [main, 'watch', '--poll-us', String(pollUs), '--findings', '/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 600 && !log.includes('probes attached'); i++) await sleep(100);
  if (!log.includes('probes attached')) throw new Error(`chainwatch watch did not attach:\n${log.slice(-2000)}`);
  await sleep(3000);
  const bpf = childBpftrace(child.pid!);
  if (bpf === undefined) throw new Error('no bpftrace child found');
  const c0 = cpuTicks(child.pid!);
  const b0 = cpuTicks(bpf);
  await sleep(IDLE_SECONDS * 1000);
  const chainwatch = cpuTicks(child.pid!) - c0;
  const bpftrace = cpuTicks(bpf) - b0;
  child.kill('SIGTERM');
  await exited;
  const ticks = Number(/"ticks":(\d+)/.exec(log)?.[1] ?? NaN);
  return { chainwatch, bpftrace, ticks };
}

console.log(`idle host, ${IDLE_SECONDS} s per setting, CPU time of chainwatch and its bpftrace (share of one core):`);
for (const pollUs of SETTINGS) {
  const m = await measure(pollUs);
  const pct = (t: number): string => `${((100 * t) / (IDLE_SECONDS * TICKS_PER_S)).toFixed(1)}%`;
  console.log(`  --poll-us ${String(pollUs).padEnd(5)} chainwatch ${pct(m.chainwatch)} (${m.chainwatch} ticks), bpftrace ${pct(m.bpftrace)} (${m.bpftrace} ticks); TICK records in the session: ${m.ticks}`);
}
