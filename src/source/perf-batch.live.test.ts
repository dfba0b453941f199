import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { BpftraceProcess, perfBatchLibrary } from './bpftrace-process.js';

/**
 * Batched delivery (probes/perf-batch.c) against the real kernel and the
 * real bpftrace: every record arrives, in order, a lone record arrives with
 * nothing after it to push it out, the records printed just before the stop
 * arrive, and bpftrace is woken, and writes to chainwatch, far less often
 * than once per record.
 */

const MAGIC = 987_654_321;
const RECORDS = 5_000;
/** Between two records: bpftrace, woken per record, falls asleep again in between. */
const SPACING_US = 50;

/** One record per getpgid(MAGIC) call (the call fails with ESRCH; the probe sees it). */
const script = (marker: number): string => `
BEGIN { printf("HELLO\\t%lu\\t%d\\n", nsecs, pid); }
tracepoint:syscalls:sys_enter_getpgid /args->pid == ${marker}/ { @n = @n + 1; printf("R\\t%d\\n", @n); }
END { clear(@n); printf("BYE\\t%lu\\n", nsecs); }
`;

function python(code: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', code], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (c) => resolve(c ?? -1));
  });
}

/**
 * `n` calls; with `spacingUs`, that much busy work between calls (records apart in time, as a real program's are).
 * On one CPU: each CPU has its own output buffer and bpftrace reads them one after the other, so records of a
 * process that moves between CPUs mid-burst arrive out of order (the pipeline's reorder stage sorts them by time;
 * this test looks at bpftrace's raw output, whose order only holds within one buffer).
 */
const calls = (n: number, marker = MAGIC, spacingUs = 0): string => `
import os, time
os.sched_setaffinity(0, {0})
for i in range(${n}):
    try:
        os.getpgid(${marker})
    except ProcessLookupError:
        pass
    t = time.perf_counter()
    while time.perf_counter() - t < ${spacingUs / 1e6}:
        pass
`;

/** write(2)-family calls the process has made (/proc/PID/io). */
function writeCalls(pid: number): number {
  const m = /^syscw:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  if (m === null) throw new Error(`no write count for bpftrace ${pid}`);
  return Number(m[1]);
}

function voluntarySwitches(pid: number): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no context-switch count for bpftrace ${pid}`);
  return Number(m[1]);
}

/** One numbered line of bpftrace's output. */
interface ProbeLine {
  line: string;
  no: number;
}

interface Run {
  bpf: BpftraceProcess;
  lines: ProbeLine[];
  /** Resolves when a line matching the test arrives (or the stream ends). */
  waitFor(test: (line: string) => boolean): Promise<boolean>;
  done: Promise<void>;
}

/** Starts bpftrace with the test script; collects its lines (lines$ starts bpftrace on subscription: one subscription). */
async function start(marker: number, batch: { pollUs: number } | false): Promise<Run> {
  const bpf = new BpftraceProcess({ script: script(marker), batch, ringPages: 256 });
  const lines: ProbeLine[] = [];
  const waiters: { test: (l: string) => boolean; resolve: (ok: boolean) => void }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    bpf.output$.subscribe({
      next: (parts) => {
        // a test script's records are not chainwatch's: bpftrace formats them (text mode)
        const text = parts.join('');
        const batch = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
        for (const line of batch) lines.push({ line, no: lines.length + 1 });
        for (const w of waiters.filter((w) => batch.some(w.test))) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(true);
        }
      },
      error: reject,
      complete: () => {
        for (const w of waiters) w.resolve(false);
        resolve();
      },
    });
  });
  await bpf.attached;
  return {
    bpf,
    lines,
    done,
    waitFor: (test) => (lines.some((l) => test(l.line)) ? Promise.resolve(true) : new Promise((resolve) => waiters.push({ test, resolve }))),
  };
}

const RECORD = /^\{"type": "printf", "data": "R\\t(\d+)\\n"\}$/;

function recordsOf(lines: ProbeLine[]): { records: number[]; lost: number } {
  const records: number[] = [];
  let lost = 0;
  for (const { line } of lines) {
    const m = RECORD.exec(line);
    if (m) records.push(Number(m[1]));
    if (line.startsWith('{"type": "lost_events"')) lost++;
  }
  return { records, lost };
}

/** Runs `n` calls under bpftrace; returns the records, bpftrace's wake-ups during the burst and whether the library was loaded. */
async function burst(
  batch: { pollUs: number } | false,
  n: number,
  spacingUs: number,
): Promise<{ records: number[]; lost: number; wakeups: number; writes: number; loaded: boolean; ms: number }> {
  const run = await start(MAGIC, batch);
  const pid = run.bpf.pid!;
  const loaded = readFileSync(`/proc/${pid}/maps`, 'utf8').includes('perf-batch.so');
  const before = voluntarySwitches(pid);
  const writesBefore = writeCalls(pid);
  const t0 = performance.now();
  expect(await python(calls(n, MAGIC, spacingUs))).toBe(0);
  expect(await run.waitFor((l) => RECORD.exec(l)?.[1] === String(n))).toBe(true);
  const ms = performance.now() - t0;
  const wakeups = voluntarySwitches(pid) - before;
  const writes = writeCalls(pid) - writesBefore;
  run.bpf.stop();
  await run.done;
  return { ...recordsOf(run.lines), wakeups, writes, loaded, ms };
}

describe('batched delivery of probe records (perf-batch)', () => {
  it('was built', () => {
    expect(perfBatchLibrary(), 'dist/perf-batch.so: npm run build compiles probes/perf-batch.c (needs gcc)').toBeDefined();
  });

  it('delivers every record in order while waking bpftrace far less than once per record', async () => {
    const batched = await burst({ pollUs: 1000 }, RECORDS, SPACING_US);
    expect(batched.loaded).toBe(true);
    expect(batched.lost).toBe(0);
    expect(batched.records.length).toBe(RECORDS);
    expect(batched.records.every((v, i) => v === i + 1)).toBe(true);

    const perRecord = await burst(false, RECORDS, SPACING_US);
    expect(perRecord.loaded).toBe(false);
    expect(perRecord.records.length).toBe(RECORDS);
    // batched, bpftrace wakes on the poll clock, not per record: at most one wake-up per poll interval of the burst
    // (a few more for the watermark), far fewer than the records (one per 50 µs, ~20 per interval)
    const figures = `batched ${batched.wakeups} wake-ups in ${batched.ms.toFixed(0)} ms; per record ${perRecord.wakeups} in ${perRecord.ms.toFixed(0)} ms; ${RECORDS} records`;
    expect(batched.wakeups, figures).toBeLessThanOrEqual(batched.ms / 1 + 50);
    expect(batched.wakeups * 5, figures).toBeLessThan(RECORDS);
    // the receipt that batching is what changed: without it bpftrace sleeps and wakes as records come (on a quiet
    // machine nearly once per record, ~4,200 here; on a busy one it falls behind and finds several per wake-up)
    expect(batched.wakeups, figures).toBeLessThan(perRecord.wakeups);
    // and its output leaves in buffers, not one write(2) to chainwatch per record as bpftrace's line buffering does
    expect(perRecord.writes, 'per record: one write per line').toBeGreaterThanOrEqual(RECORDS);
    expect(batched.writes * 5, `batched ${batched.writes} writes for ${RECORDS} records`).toBeLessThan(RECORDS);
  });

  it('wakes bpftrace far less often while nothing is printed (checks slow down once quiet), and still delivers the record that ends the quiet', async () => {
    const quietWakeups = async (idleMaxUs: number): Promise<number> => {
      const run = await start(MAGIC + 2, { pollUs: 1000, idleMaxUs });
      const pid = run.bpf.pid!;
      await new Promise((r) => setTimeout(r, 300));
      const before = voluntarySwitches(pid);
      await new Promise((r) => setTimeout(r, 1000));
      const wakeups = voluntarySwitches(pid) - before;
      // the quiet ends: its first record still arrives
      expect(await python(calls(1, MAGIC + 2))).toBe(0);
      expect(await run.waitFor((l) => RECORD.test(l))).toBe(true);
      run.bpf.stop();
      await run.done;
      return wakeups;
    };
    const slowed = await quietWakeups(8000);
    const every = await quietWakeups(0);
    // a check every 1 ms is ~1,000 wake-ups a second; slowed to 8 ms, ~125
    expect(every, 'checks every poll interval').toBeGreaterThan(500);
    expect(slowed * 3, `slowed ${slowed} wake-ups in 1 s of quiet, every poll interval ${every}`).toBeLessThan(every);
  });

  it('delivers a lone record with nothing after it to push it out, and stops when asked while busy', async () => {
    const run = await start(MAGIC + 1, { pollUs: 1000 });
    expect(run.bpf.delivery.mode).toBe('batched');
    // one record, far below the wake-up watermark: only the poller can bring it
    expect(await python(calls(1, MAGIC + 1))).toBe(0);
    expect(await run.waitFor((l) => RECORD.test(l))).toBe(true);
    // then a stop that reaches bpftrace while it is busy reading a burst: it still notices it (BYE from
    // its END block, not a kill after stop()'s timeout). Records still unread at the signal are bpftrace's to drop
    // (it stops printing on SIGINT; sessions stop it only after delivery is proven past their end): what arrives is in order
    expect(await python(calls(20_000, MAGIC + 1))).toBe(0);
    run.bpf.stop(15_000);
    await run.done;
    expect(run.lines.some((l) => l.line.startsWith('{"type": "printf", "data": "BYE'))).toBe(true);
    const { records } = recordsOf(run.lines);
    expect(records[0]).toBe(1);
    expect(records.every((v, i) => i === 0 || v > records[i - 1]!)).toBe(true);
  });
});
