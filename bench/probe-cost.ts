import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { BpftraceProcess } from '../src/source/bpftrace-process.js';
import { renderProbe } from '../src/source/probe-catalog.js';
import { countRecords } from '../src/source/probe-output.js';

/**
 * Where the CPU that watching takes goes, split three ways: the probe's BPF
 * programs in the kernel (the kernel's own per-program run time), bpftrace
 * formatting and writing records in user space, and chainwatch consuming
 * them. A workload's slowdown can then be read against each part, and the
 * probe's share is measured apart from any consumer (`withDiscardingProbe`).
 */

const STATS = '/proc/sys/kernel/bpf_stats_enabled';
/** /proc/PID/stat counts CPU time in clock ticks of 10 ms (USER_HZ on Linux). */
const MS_PER_TICK = 10;

/** Turns on the kernel's per-program run-time accounting (`kernel.bpf_stats_enabled`) while `fn` runs. */
export async function withBpfStats<T>(fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(STATS, 'utf8').trim();
  writeFileSync(STATS, '1');
  try {
    return await fn();
  } finally {
    writeFileSync(STATS, before);
  }
}

export interface BpfTime {
  /** Nanoseconds the process' BPF programs ran in the kernel (needs `withBpfStats`). */
  runNs: number;
  /** How many times they ran. */
  runs: number;
}

/** The run time of every BPF program the process holds a descriptor to (`/proc/PID/fdinfo`: run_time_ns, run_cnt). */
export function bpfTimeOf(pid: number): BpfTime {
  let runNs = 0;
  let runs = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    if (!info.includes('prog_id:')) continue;
    runNs += Number(/^run_time_ns:\s*(\d+)/m.exec(info)?.[1] ?? 0);
    runs += Number(/^run_cnt:\s*(\d+)/m.exec(info)?.[1] ?? 0);
  }
  return { runNs, runs };
}

/** User + system CPU time of a process so far, in ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * MS_PER_TICK;
}

/** The bpftrace process this process started most recently (the live session's), if one runs. */
export function ownBpftrace(): number | undefined {
  let newest: { pid: number; start: number } | undefined;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] state, f[1] ppid, f[19] start time: one still detaching from an earlier run is older
      if (comm !== 'bpftrace' || Number(f[1]) !== process.pid || f[0] === 'Z') continue;
      const start = Number(f[19]);
      if (newest === undefined || start > newest.start) newest = { pid: Number(d), start };
    } catch {
      // exited meanwhile
    }
  }
  return newest?.pid;
}

/** Waits until process `pid` has gone (bpftrace detaching its programs after a stop request takes seconds). */
async function gone(pid: number, timeoutMs = 30_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return;
    } catch {
      return;
    }
  }
}

/** What the probe's side cost while `fn` ran: kernel programs and bpftrace, each in ms. */
export interface ProbeCost {
  kernelMs: number;
  bpftraceMs: number;
  programRuns: number;
}

/** Measures the probe side (the kernel programs and bpftrace process `pid`) around `fn`. */
export async function probeCostAround<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; cost: ProbeCost }> {
  const [k0, c0] = [bpfTimeOf(pid), cpuMsOf(pid)];
  const result = await fn();
  const [k1, c1] = [bpfTimeOf(pid), cpuMsOf(pid)];
  return { result, cost: { kernelMs: (k1.runNs - k0.runNs) / 1e6, bpftraceMs: c1 - c0, programRuns: k1.runs - k0.runs } };
}

/**
 * Runs `fn` while chainwatch's real probe watches the cgroup (`path` under
 * the cgroup v2 root, `id` its cgroup id) and its records go to a consumer
 * that only counts lines: the probe's cost with no pipeline behind it.
 * Returns what `fn` returned, the probe's cost and the records delivered.
 */
export async function withDiscardingProbe<T>(cgroup: { path: string; id: number }, fn: () => Promise<T>): Promise<{ result: T; cost: ProbeCost; lines: number; consumerMs: number }> {
  const { script } = renderProbe({ mode: 'cgroup', path: cgroup.path, ids: [cgroup.id] }, [process.pid]);
  // records handed over as `watch` has them: as bytes (the script's printfs all have layouts)
  const probe = new BpftraceProcess({ script, binaryRecords: true });
  let lines = 0;
  const sub = probe.output$.subscribe({
    next: (parts) => {
      lines += countRecords(parts);
    },
    error: () => undefined,
  });
  let pid: number | undefined;
  try {
    await probe.attached;
    pid = ownBpftrace();
    if (pid === undefined) throw new Error('the probe attached but no bpftrace child of this process was found');
    const bpftrace = pid;
    const linesBefore = lines;
    const cpu0 = process.cpuUsage();
    const { result, cost } = await probeCostAround(bpftrace, fn);
    const cpu = process.cpuUsage(cpu0);
    return { result, cost, lines: lines - linesBefore, consumerMs: (cpu.user + cpu.system) / 1000 };
  } finally {
    // the stop request: bpftrace leaves at once; its detaching (seconds of CPU) is waited out so it burdens no later measurement
    probe.finish();
    await new Promise<void>((r) => sub.add(r));
    if (pid !== undefined) await gone(pid);
  }
}
