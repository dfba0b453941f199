import { performance } from 'node:perf_hooks';
import { ProbeDecoder } from '../src/decode/probe-decoder.js';
import type { Event } from '../src/schema/event.js';
import { Correlator } from '../src/correlate/correlator.js';
import { FindingBuilder } from '../src/correlate/finding-builder.js';
import { FlowTracker } from '../src/correlate/flow-tracker.js';
import { SequenceMatcher } from '../src/correlate/sequence-matcher.js';
import { chainRulesFile, loadChainRules } from '../src/rules/chain-rules.js';
import { DataClasses } from '../src/rules/data-classes.js';
import { SystemState } from '../src/state/system-state.js';
import { ProbeOutput } from '../src/source/probe-output.js';
import { FrameEncoder } from './probe-frames.js';

/** What one read(2) of a pipe returns at most. */
const PIPE_READ = 65_536;

/**
 * Decode + state throughput on a synthetic probe stream of realistic shape:
 * many processes forking and exec'ing, opening files, reading and writing
 * (first calls and RUN summaries), sockets, connects, sends, pipes, closes.
 * Lines are generated in chunks outside the timed section.
 */

const rec = (data: string): string => `{"type": "printf", "data": "${data.replaceAll('\t', '\\t')}\\n"}`;

/**
 * How the stream interleaves its processes. Without one, every step is made
 * by a process drawn from all of them: 1,000 consecutive events come from
 * ~650 different processes, a worst case for the state's memory caches. A
 * real probe stream is scheduled: a CPU runs one process for a while, so few
 * processes make any stretch of it (see `MEASURED_INTERLEAVE`).
 */
export interface Interleave {
  /** Processes that run in a stretch of the stream; the others are alive and idle. */
  running: number;
  /** Mean number of steps a process makes before another one runs (geometric). */
  meanBurst: number;
  /** Every this many steps, one running process goes idle and an idle one wakes. */
  wakeEvery: number;
}

/**
 * Fitted to a recording of this machine's busy host (`chainwatch watch
 * --record` of the whole host for 14 s while tar, find, grep and python3 ran:
 * 241,061 events, 43,830 runs of consecutive events by one process, mean
 * 5.5; 9 distinct processes per 1,000 events at the median, 81 at most) and
 * checked against LID-DS's Apache recording (mean run 13.2, at most 7
 * processes per 1,000 events). `benchDecodeState` reports both figures for
 * the stream it made.
 */
export const MEASURED_INTERLEAVE: Interleave = { running: 6, meanBurst: 5, wakeEvery: 200 };

export class Workload {
  private ts = 1_000_000_000;
  private nextPid = 1000;
  private procs: { pid: number; fds: number[]; inos: Map<number, number>; sock?: number; sockIno?: number }[] = [];
  private ino = 100;
  private readonly running: number[] = [];
  private current = 0;
  private burstLeft = 0;
  private steps = 0;

  constructor(
    private readonly concurrent: number,
    private readonly interleave?: Interleave,
  ) {
    for (let i = 0; i < concurrent; i++) this.procs.push({ pid: this.nextPid++, fds: [], inos: new Map() });
    if (interleave !== undefined) for (let i = 0; i < interleave.running; i++) this.running.push(this.anyProcess());
  }

  private anyProcess(): number {
    return Math.floor(Math.random() * this.procs.length);
  }

  /** The slot of the process that makes the next step. */
  private next(): number {
    const s = this.interleave;
    if (s === undefined) return this.anyProcess();
    if (++this.steps % s.wakeEvery === 0) this.running[Math.floor(Math.random() * s.running)] = this.anyProcess();
    if (this.burstLeft > 0) {
      this.burstLeft--;
      return this.current;
    }
    this.current = this.running[Math.floor(Math.random() * s.running)]!;
    // geometric burst length with the given mean
    this.burstLeft = Math.floor(Math.log(1 - Math.random()) / Math.log(1 - 1 / s.meanBurst));
    return this.current;
  }

  /** Appends about `n` lines; returns the number of lines. */
  fill(out: string[], n: number): void {
    while (out.length < n) this.step(out);
  }

  private step(out: string[]): void {
    const i = this.next();
    const p = this.procs[i]!;
    const h = (): string => `${(this.ts += 137)}\t7\t${p.pid}\t${p.pid}`;
    const r = Math.random();
    if (p.fds.length === 0 || r < 0.08) {
      let fd = 3;
      while (p.inos.has(fd)) fd++;
      const ino = this.ino++;
      // one path in 2,000 is a secret, so chains form when that process later sends
      const path = ino % 2000 === 0 ? `/home/u${p.pid}/.ssh/id_rsa` : `/srv/data/file-${ino % 5000}.txt`;
      out.push(rec(`OPEN\t${h()}\t257\t4294967196\t0\t0\t${fd}\t266338304\t${ino}\t33188\t${path}`));
      p.fds.push(fd);
      p.inos.set(fd, ino);
      return;
    }
    const fd = p.fds[Math.floor(Math.random() * p.fds.length)]!;
    if (r < 0.5) {
      out.push(rec(`IO\t${h()}\t0\t0\t${fd}\t4096\t266338304\t${p.inos.get(fd)}`));
    } else if (r < 0.7) {
      out.push(rec(`RUN\t${h()}\t0\t0\t${fd}\t-1\t37\t151552\t${this.ts - 5000}`));
    } else if (r < 0.78) {
      if (p.sock === undefined) {
        const s = 3 + p.fds.length + 10;
        const sino = this.ino++;
        out.push(rec(`SOCK\t${h()}\t2\t1\t0\t${s}\t9\t${sino}`));
        out.push(rec(`ADDR\t${h()}\t42\t${s}\t0\t9\t${sino}\t2\t443\t0\t10.0.0.${p.pid % 250}`));
        p.sock = s;
        p.sockIno = sino;
      }
      out.push(rec(`IO\t${h()}\t1\t44\t${p.sock}\t1200\t9\t${p.sockIno}`));
    } else if (r < 0.86) {
      out.push(rec(`CLOSE\t${h()}\t${fd}\t0`));
      p.fds.splice(p.fds.indexOf(fd), 1);
      p.inos.delete(fd);
    } else if (r < 0.9) {
      out.push(rec(`DUP\t${h()}\t33\t${fd}\t${fd + 20}\t0\t${fd + 20}`));
      out.push(rec(`CLOSE\t${h()}\t${fd + 20}\t0`));
    } else if (r < 0.93) {
      const ino = this.ino++;
      out.push(rec(`PIPE\t${h()}\t0\t0\t${fd + 30}\t${fd + 31}\t15\t${ino}`));
      out.push(rec(`IO\t${h()}\t1\t1\t${fd + 31}\t512\t15\t${ino}`));
      out.push(rec(`CLOSE\t${h()}\t${fd + 30}\t0`));
      out.push(rec(`CLOSE\t${h()}\t${fd + 31}\t0`));
    } else if (r < 0.97) {
      out.push(rec(`RUN\t${h()}\t1\t1\t${fd}\t-1\t12\t49152\t${this.ts - 9000}`));
    } else {
      // the process forks a child that execs and exits; the parent is replaced by a fresh one later
      const child = this.nextPid++;
      out.push(rec(`FORK\t${h()}\t${child}\t17`));
      const ch = (): string => `${(this.ts += 137)}\t7\t${child}\t${child}`;
      out.push(rec(`A\t${ch()}\t0\t/usr/bin/gzip`));
      out.push(rec(`A\t${ch()}\t1\t-c`));
      out.push(rec(`EXEC\t${ch()}\t${child}\t${p.pid}\t266338304\t555\t/usr/bin/gzip`));
      out.push(rec(`COMM\t${ch()}\tgzip`));
      out.push(rec(`IO\t${ch()}\t0\t0\t0\t65536\t15\t${this.ino++}`));
      out.push(rec(`EXIT\t${ch()}\t0\t1`));
      if (Math.random() < 0.3) {
        out.push(rec(`EXIT\t${h()}\t0\t1`));
        this.procs[i] = { pid: this.nextPid++, fds: [], inos: new Map() };
      }
    }
  }
}

export interface DecodeStateResult {
  events: number;
  lines: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMiB: number;
  heapAfterMiB: number;
  trackedFds: number;
  findings: number;
  /** How local the stream was (its first chunk): events per run of one process, and distinct processes per 1,000 events. */
  locality: Locality;
}

export interface Locality {
  meanRun: number;
  distinctPer1000: { median: number; max: number };
}

/** Runs of one process and distinct processes per 1,000 events, from the pids of a stream in order. */
export function localityOf(pids: number[]): Locality {
  let runs = 0;
  let prev = Number.NaN;
  for (const p of pids) {
    if (p !== prev) runs++;
    prev = p;
  }
  const distinct: number[] = [];
  for (let i = 0; i + 1000 <= pids.length; i += 1000) distinct.push(new Set(pids.slice(i, i + 1000)).size);
  distinct.sort((a, b) => a - b);
  return { meanRun: pids.length / Math.max(1, runs), distinctPer1000: { median: distinct[distinct.length >> 1] ?? 0, max: distinct.at(-1) ?? 0 } };
}

/** Flow tracking and the shipped chain rules over the shipped data classes, as the benchmarks run them. */
export function shippedCorrelator(): Correlator {
  const classes = DataClasses.load(DataClasses.defaultFile());
  return new Correlator(
    new FlowTracker((p) => classes.classify(p)),
    new SequenceMatcher(loadChainRules(chainRulesFile()).rules),
    new FindingBuilder({ host: 'bench', wallEpochNs: 0n, policyHash: null }),
  );
}

/**
 * With `correlate`, the full pipeline: decode, state, flow tracking and the
 * shipped chain rules (the workload's file paths include secrets, so chains
 * form and findings are built).
 */
export function benchDecodeState(
  totalLines: number,
  correlate = false,
  { format = 'binary', interleave = MEASURED_INTERLEAVE }: { format?: 'binary' | 'text'; interleave?: Interleave | 'uniform' } = {},
): DecodeStateResult {
  const w = new Workload(2000, interleave === 'uniform' ? undefined : interleave);
  let locality: Locality | undefined;
  const frames = format === 'binary' ? new FrameEncoder() : undefined;
  const correlator = shippedCorrelator();
  let findings = 0;
  let firstIssue = "";
  const decoder = new ProbeDecoder({
    monoEpochNs: 0n,
    onIssue: (i) => (firstIssue ||= `${i.reason}: ${i.excerpt}`),
    ...(frames !== undefined && { printfLayouts: frames.layouts }),
  });
  const state = new SystemState();
  let seconds = 0;
  let events = 0;
  let peakRss = 0;
  let lines = 0;
  const chunk = 250_000;
  const apply = correlate
    ? (e: Event): void => {
        state.apply(e);
        events++;
        findings += correlator.observe(e).length;
      }
    : (e: Event): void => {
        state.apply(e);
        events++;
      };
  const reader = new ProbeOutput();
  while (lines < totalLines) {
    const made: string[] = [];
    w.fill(made, Math.min(chunk, totalLines - lines));
    // the pid is the record's fourth field
    locality ??= localityOf(made.map((l) => Number(l.split('\\t', 4)[3])));
    // as the real reader gets them: bytes in pipe-sized reads (64 KiB), cut into runs of whole frames (or lines) and read in place
    const bytes = frames !== undefined ? Buffer.concat(made.map((l) => frames.frame(l))) : Buffer.from(`${made.join('\n')}\n`, 'utf8');
    const reads: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += PIPE_READ) reads.push(bytes.subarray(at, at + PIPE_READ));
    const t0 = performance.now();
    for (const r of reads) {
      for (const part of reader.push(r)) {
        if (typeof part === 'string') decoder.decodeText(part, apply);
        else decoder.decodeFrames(part, apply);
      }
    }
    seconds += (performance.now() - t0) / 1000;
    lines += made.length;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const decoded = decoder.stats.lines + decoder.stats.frames;
  if (decoded !== lines) throw new Error(`decoded ${decoded} records of ${lines}`);
  let trackedFds = 0;
  for (const p of state.procs.byPid.values()) trackedFds += p.fds.entries.size;
  if (decoder.stats.malformed > 0) throw new Error(`benchmark workload produced ${decoder.stats.malformed} malformed lines, first: ${firstIssue}`);
  return {
    events,
    lines,
    seconds,
    eventsPerSecond: events / seconds,
    peakRssMiB: peakRss / 2 ** 20,
    heapAfterMiB: process.memoryUsage().heapUsed / 2 ** 20,
    trackedFds,
    findings,
    locality: locality ?? localityOf([]),
  };
}

/** Heap bytes per tracked descriptor: many processes holding many open files. */
export function benchMemoryPerFd(processes: number, fdsEach: number): { fds: number; bytesPerFd: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const state = new SystemState();
  let ts = 1;
  let ino = 1;
  for (let p = 0; p < processes; p++) {
    const pid = 10_000 + p;
    state.apply({ kind: 'process.seen', ts: ts++, cgroup: 1, pid, tid: pid, ppid: 1, comm: 'bench' });
    for (let f = 0; f < fdsEach; f++) {
      state.apply({
        kind: 'file.open', ts: ts++, cgroup: 1, pid, tid: pid, syscall: 'openat', dirfd: -100,
        path: `/data/p${p}/f${f}`, path_truncated: false, flags: 0, mode: 0, ret: 3 + f, obj: `8:1:${ino++}`, file_type: 'file',
      });
    }
  }
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const fds = processes * fdsEach;
  if (state.procs.size !== processes) throw new Error('state lost processes');
  return { fds, bytesPerFd: (after - before) / fds };
}
