import { afterAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Event } from '../schema/event.js';
import { newTraceReadStats, readTrace, readTraceHeader } from '../source/trace-reader.js';
import { stateSnapshot } from '../state/state-snapshot.js';
import { SystemState } from '../state/system-state.js';
import { traceEvents } from '../testing/agent-link.js';
import { segmentsOf } from '../testing/rotate.js';
import { SmallDisk } from '../testing/small-disk.js';
import { runReplay } from '../pipeline/replay-session.js';
import { TraceRecorder } from './trace-recorder.js';

const TRACE = 'replays/scm-rights-send.trace.jsonl.gz';
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

const sizeOf = (f: string): number => statSync(f).size;

async function readAll(file: string): Promise<{ events: Event[]; stats: ReturnType<typeof newTraceReadStats> }> {
  const stats = newTraceReadStats(file);
  const events: Event[] = [];
  await readTrace(file, stats).forEach((ev) => events.push(ev));
  return { events, stats };
}

describe('recording on a full disk (a real tmpfs filled up)', () => {
  const disk = new SmallDisk(2 << 20);
  afterAll(() => disk.unmount());

  for (const name of ['full.trace.jsonl', 'full.trace.jsonl.gz', 'full.trace.jsonl.zst']) {
    it(`${name}: the recording stops without throwing, later events are counted, and the trace reads up to its last whole line`, async () => {
      const { header, events } = await traceEvents(TRACE);
      const target = join(disk.dir, name);
      const fails: string[] = [];
      const rec = new TraceRecorder(target, header, undefined, { onFail: (f) => fails.push(f) });
      const half = Math.floor(events.length / 2);
      for (const ev of events.slice(0, half)) rec.record(ev);
      await settle();
      disk.fill(0);
      // a compressed recording meets the full disk at its next flush (every second)
      if (!name.endsWith('.jsonl')) await new Promise((r) => setTimeout(r, 1100));
      for (let i = half; i < events.length; i += 50) {
        for (const ev of events.slice(i, i + 50)) rec.record(ev);
        await settle();
      }
      await rec.close();
      expect(rec.failed).toBeDefined();
      expect(fails).toEqual([target]);
      // zstd keeps its output until a block is full or the input ends: its failure may only show at the end
      if (!name.endsWith('.zst')) expect(rec.dropped).toBeGreaterThan(0);
      disk.free();
      if (name.endsWith('.zst') && sizeOf(target) === 0) {
        // zstd had not written a byte when the disk filled (it keeps up to 128 KiB of output): an empty trace, said so by the reader
        await expect(readAll(target)).rejects.toThrow(/empty trace/);
        return;
      }
      // whatever reached the disk is the recording's beginning, in order (a compressed one as far as it was flushed), and the reader says where it is cut
      const { events: got, stats } = await readAll(target);
      expect(got.length + rec.dropped).toBeLessThanOrEqual(events.length);
      expect(got).toEqual(events.slice(0, got.length));
      if (got.length < events.length - rec.dropped) expect(stats.cut).toBeDefined();
    });
  }

  it('rotating: once the disk has room again, the recording resumes in a new segment, a new run that replays from the state it starts with', async () => {
    const { header, events } = await traceEvents(TRACE);
    const target = join(disk.dir, 'rot.trace.jsonl');
    const st = new SystemState();
    const rec = new TraceRecorder(target, header, { bytes: 64 * 1024, keep: 6, snapshot: (ts) => stateSnapshot(st, ts) }, { retryMs: 0 });
    const record = async (evs: Event[]): Promise<void> => {
      for (let i = 0; i < evs.length; i += 50) {
        for (const ev of evs.slice(i, i + 50)) {
          rec.record(ev);
          st.apply(ev);
        }
        await settle();
      }
    };
    const third = Math.floor(events.length / 3);
    await record(events.slice(0, third));
    disk.fill(0);
    await record(events.slice(third, 2 * third));
    expect(rec.failed).toBeDefined();
    const lost = rec.dropped;
    expect(lost).toBeGreaterThan(0);
    disk.free();
    await record(events.slice(2 * third));
    await rec.close();
    expect(rec.failed).toBeUndefined();
    expect(rec.lastFailure).toBeDefined();
    expect(rec.resumed).toBe(1);
    expect(rec.dropped).toBe(lost);

    const segments = segmentsOf(disk.dir, 'rot.trace.jsonl');
    const headers = await Promise.all(segments.map((s) => readTraceHeader(s)));
    const runs = [...new Set(headers.map((h) => h.segment!.run))];
    expect(runs).toHaveLength(2);
    const resumedAt = headers.findIndex((h) => h.segment!.run === runs[1]);
    expect(headers[resumedAt]!.segment!.index).toBe(0);
    expect(headers[resumedAt]!.segment!.snapshot_events).toBeGreaterThan(0);
    // the resumed run holds exactly the events recorded after the gap, after its state events
    const after = (await Promise.all(segments.slice(resumedAt).map(readAll))).flatMap((r, k) => r.events.slice(headers[resumedAt + k]!.segment!.snapshot_events));
    // (the state applied the events in place: compared with the trace read again)
    const original = (await traceEvents(TRACE)).events;
    expect(after).toEqual(original.slice(original.length - after.length));
    expect(events.length - after.length).toBeGreaterThanOrEqual(2 * third);

    // replayed in order: the segments before the gap as one stream, the resumed run as another from its own state
    const summaries = await runReplay({ traces: segments });
    const resumed = summaries[resumedAt]!;
    expect(resumed.state.unknownProcesses).toBe(0);
    disk.free();
  });
});
