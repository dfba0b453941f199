import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TraceRecorder } from '../sinks/trace-recorder.js';
import { newTraceReadStats, readTrace, readTraceHeader } from '../source/trace-reader.js';
import { stateSnapshot } from '../state/state-snapshot.js';
import { SystemState } from '../state/system-state.js';

/**
 * A recorded real run re-recorded as `watch --record-rotate` would record it:
 * each event recorded before the state applies it, a new segment every
 * `bytes`, started with the state as events.
 */
export async function rerecord(trace: string, target: string, bytes: number, keep?: number): Promise<TraceRecorder> {
  const header = await readTraceHeader(trace);
  const st = new SystemState();
  const rec = new TraceRecorder(target, header, { bytes, ...(keep !== undefined && { keep }), snapshot: (ts) => stateSnapshot(st, ts) });
  await readTrace(trace, newTraceReadStats(trace)).forEach((ev) => {
    rec.record(ev);
    st.apply(ev);
  });
  await rec.close();
  return rec;
}

/** Segments in recorded order: NAME.N.EXT by N, then NAME.EXT (the newest). `base`: NAME.EXT. */
export function segmentsOf(dir: string, base: string): string[] {
  const dot = base.indexOf('.');
  const re = new RegExp(`^${base.slice(0, dot)}\\.(\\d+)${base.slice(dot).replaceAll('.', '\\.')}$`);
  const numbered = readdirSync(dir)
    .map((f) => re.exec(f))
    .filter((m) => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => join(dir, m[0]));
  return [...numbered, join(dir, base)];
}

