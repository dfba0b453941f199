import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProbeDecoder } from '../src/decode/probe-decoder.js';
import { loadTraces } from '../src/pipeline/load-session.js';
import { DuckDbStore } from '../src/query/duckdb-store.js';
import { runReplay } from '../src/pipeline/replay-session.js';
import { TRACE_FORMAT, TRACE_VERSION, type TraceHeader } from '../src/schema/trace-header.js';
import { Workload } from './decode-state.js';

/**
 * Replay (`--speed max`, the full pipeline: read + validate, state, flow,
 * chain rules) and DuckDB load throughput on an N-event trace made from the
 * synthetic probe workload (generated before the timed sections).
 */
export interface ReplayBenchResult {
  events: number;
  traceMiB: number;
  replaySeconds: number;
  /** Reading the file, splitting lines and JSON.parse of each on one thread, nothing else (replay parses in a worker thread beside the pipeline). */
  parseOnlyEventsPerSecond: number;
  replayEventsPerSecond: number;
  replayPeakRssMiB: number;
  loadReplaySeconds: number;
  duckdbLoadSeconds: number;
  duckdbRowsPerSecond: number;
  /** The same load into an in-memory database (`chainwatch query --load`), DuckDB's part only. */
  duckdbMemoryRowsPerSecond: number;
  /** DuckDB copying the loaded events into a new table (CREATE TABLE AS): its own write speed for these rows here, with no parsing at all. */
  duckdbCopyRowsPerSecond: number;
  peakRssMiB: number;
}

export function makeTrace(file: string, events: number): number {
  const header: TraceHeader = {
    type: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, host: 'bench', kernel: 'bench', arch: 'x64', chainwatch_version: '0.1.0',
    start_time: new Date(0).toISOString(), wall_epoch_ns: '1795380435102000000', mono_epoch_ns: '0', scope: { mode: 'replay' }, probes: [], policy_sha256: null,
  };
  const fd = openSync(file, 'w');
  writeSync(fd, `${JSON.stringify(header)}\n`);
  const w = new Workload(400);
  const decoder = new ProbeDecoder({ monoEpochNs: 0n });
  let n = 0;
  let buf: string[] = [];
  while (n < events) {
    const lines: string[] = [];
    w.fill(lines, 20_000);
    for (const l of lines) {
      decoder.decodeLineTo(l, 0, (ev) => {
        if (n >= events) return;
        n++;
        buf.push(JSON.stringify(ev));
      });
    }
    writeSync(fd, `${buf.join('\n')}\n`);
    buf = [];
  }
  closeSync(fd);
  return n;
}

/** Reads `file`, splits it into lines and JSON.parses each (no validation, no pipeline); returns lines per second. */
export function parseOnly(file: string): number {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(16 * 2 ** 20);
  let rest = '';
  let lines = 0;
  let sink = 0;
  const t0 = performance.now();
  for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) {
    const text = rest + buf.toString('utf8', 0, n);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const o = JSON.parse(text.slice(start, nl)) as { ts?: number };
      sink += o.ts ?? 0;
      lines++;
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  const s = (performance.now() - t0) / 1000;
  closeSync(fd);
  if (sink < 0) console.log(sink);
  return lines / s;
}

export async function benchReplay(events: number): Promise<ReplayBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cw-bench-replay-'));
  try {
    const trace = join(dir, 'bench.trace.jsonl');
    const n = makeTrace(trace, events);
    const parseOnlyEventsPerSecond = parseOnly(trace);
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
    const t0 = performance.now();
    const [s] = await runReplay({ traces: [trace] });
    const replaySeconds = (performance.now() - t0) / 1000;
    const replayPeak = peak;
    const l = await loadTraces({ db: join(dir, 'bench.duckdb'), traces: [trace] });
    clearInterval(sample);
    const t = l.traces[0]!;
    const mem = await DuckDbStore.open();
    const m = (await loadTraces({ traces: [trace] }, mem)).traces[0]!;
    mem.close();
    const db = await DuckDbStore.open(join(dir, 'bench.duckdb'));
    const c0 = performance.now();
    await db.conn.run('CREATE TABLE events_copy AS SELECT * FROM events');
    const copySeconds = (performance.now() - c0) / 1000;
    db.close();
    return {
      events: s!.events === n ? n : s!.events,
      traceMiB: statSync(trace).size / 2 ** 20,
      replaySeconds,
      parseOnlyEventsPerSecond,
      replayEventsPerSecond: n / replaySeconds,
      replayPeakRssMiB: replayPeak / 2 ** 20,
      loadReplaySeconds: t.replayMs / 1000,
      duckdbLoadSeconds: t.loadMs / 1000,
      duckdbRowsPerSecond: t.events / (t.loadMs / 1000),
      duckdbMemoryRowsPerSecond: m.events / (m.loadMs / 1000),
      duckdbCopyRowsPerSecond: t.events / copySeconds,
      peakRssMiB: peak / 2 ** 20,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
