import { performance } from 'node:perf_hooks';
import type { Event } from '../src/schema/event.js';
import { parseTraceFile } from '../src/source/trace-parser.js';
import { SystemState } from '../src/state/system-state.js';
import { localityOf, shippedCorrelator } from './decode-state.js';

/**
 * `npm run bench:trace -- TRACE`: the state stage, and state + flow + chain
 * rules, on one core over a trace recorded by `chainwatch watch --record`
 * (a real stream, with the kernel's own interleaving of processes, where
 * `npm run bench` uses a synthetic one). The trace is parsed piece by piece
 * outside the timed part; each piece's events then go through the stages,
 * timed, and are dropped, as a live or replayed stream's are. Record one
 * with `bench/busy-host.sh` (docs/benchmarks.md).
 */
export interface RecordedTraceResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  findings: number;
  unknownProcesses: number;
  unresolvedFds: number;
  /** Peak resident memory of the process, trace reading included. */
  peakRssMiB: number;
}

const resultOf = (state: SystemState, events: number, seconds: number, findings: number, peakRss: number): RecordedTraceResult => ({
  events,
  seconds,
  eventsPerSecond: events / seconds,
  findings,
  unknownProcesses: state.stats.unknownProcesses,
  unresolvedFds: state.stats.unresolved,
  peakRssMiB: peakRss / 2 ** 20,
});

/** The stages alone, timed; `pids`, when given, gets each event's pid in order (outside the timed part). */
export async function benchRecordedTrace(file: string, correlate: boolean, pids?: number[]): Promise<RecordedTraceResult> {
  const state = new SystemState();
  const correlator = correlate ? shippedCorrelator() : undefined;
  let batch: Event[] = [];
  let ms = 0;
  let events = 0;
  let findings = 0;
  let peakRss = 0;
  const run = (): void => {
    const t0 = performance.now();
    for (const ev of batch) {
      state.apply(ev);
      if (correlator !== undefined) findings += correlator.observe(ev).length;
    }
    ms += performance.now() - t0;
    events += batch.length;
    batch = [];
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  const take = pids === undefined ? (ev: Event) => void batch.push(ev) : (ev: Event) => void (batch.push(ev), pids.push(ev.pid));
  await parseTraceFile(file, { header: () => undefined, event: take, chunk: run });
  run();
  return resultOf(state, events, ms / 1000, findings, peakRss);
}

/**
 * Everything on one thread, timed end to end: reading the file, splitting
 * lines, JSON.parse and the event check (a recorded trace's decoding), then
 * state, flow and chain rules per event. (`chainwatch replay` parses big
 * traces in a worker thread beside the pipeline instead.) A compressed trace
 * is decompressed by a child process: give an uncompressed one for one core.
 */
export async function benchRecordedTraceWithParsing(file: string): Promise<RecordedTraceResult> {
  const state = new SystemState();
  const correlator = shippedCorrelator();
  let events = 0;
  let findings = 0;
  let peakRss = 0;
  const t0 = performance.now();
  await parseTraceFile(file, {
    header: () => undefined,
    event: (ev) => {
      state.apply(ev);
      findings += correlator.observe(ev).length;
      events++;
    },
    chunk: () => void (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
  });
  return resultOf(state, events, (performance.now() - t0) / 1000, findings, peakRss);
}

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: npm run bench:trace -- TRACE (a trace recorded by chainwatch watch --record; bench/busy-host.sh records one)');
  process.exit(2);
}
const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
// the first run also collects the pids, for the trace's locality
let pids: number[] | undefined = [];
const stages = [
  ['state', () => benchRecordedTrace(file, false, pids)],
  ['state + flow + chain rules', () => benchRecordedTrace(file, true)],
  ['reading + JSON.parse + check + state + flow + chain rules', () => benchRecordedTraceWithParsing(file)],
] as const;
for (let i = 1; i <= repeat; i++) {
  for (const [name, bench] of stages) {
    const r = await bench();
    console.log(
      `  ${name} (one thread), run ${i} of ${repeat}: ${r.events.toLocaleString()} events in ${r.seconds.toFixed(2)} s = ` +
        `${Math.round(r.eventsPerSecond).toLocaleString()} events/s; ${r.findings} findings; ${r.unknownProcesses} unknown processes, ${r.unresolvedFds} unresolved fds; peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
    );
    if (pids !== undefined) {
      const l = localityOf(pids);
      console.log(`  the trace: ${l.meanRun.toFixed(1)} events per run of one process, ${l.distinctPer1000.median} processes per 1,000 events (max ${l.distinctPer1000.max})`);
      pids = undefined;
    }
  }
}
