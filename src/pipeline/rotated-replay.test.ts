import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../schema/finding.js';
import { readTraceHeader } from '../source/trace-reader.js';
import { rerecord, segmentsOf } from '../testing/rotate.js';
import { runReplay } from './replay-session.js';

async function findingsOf(traces: string[]): Promise<{ findings: Finding[]; summaries: Awaited<ReturnType<typeof runReplay>> }> {
  const findings: Finding[] = [];
  const summaries = await runReplay({ traces, onFinding: (f) => findings.push(f) });
  return { findings, summaries };
}

describe('rotated recordings', () => {
  for (const name of ['pipeline-gzip-nc', 'scm-rights-send', 'curl-put-shadow']) {
    it(`${name}: the segments replayed in order give exactly the findings of the whole trace; each segment replays on its own`, async () => {
      const trace = `replays/${name}.trace.jsonl.gz`;
      const dir = mkdtempSync(join(tmpdir(), 'cw-rotate-'));
      const rec = await rerecord(trace, join(dir, 'run.trace.jsonl.gz'), 6000);
      const segments = segmentsOf(dir, 'run.trace.jsonl.gz');
      expect(rec.rotations).toBeGreaterThanOrEqual(3);
      expect(segments).toHaveLength(rec.rotations + 1);
      const headers = await Promise.all(segments.map((s) => readTraceHeader(s)));
      expect(headers.map((h) => h.segment?.index)).toEqual(segments.map((_, i) => i));
      expect(new Set(headers.map((h) => h.segment?.run)).size).toBe(1);
      expect(headers[0]!.segment!.snapshot_events).toBe(0);
      expect(headers.slice(1).every((h) => h.segment!.snapshot_events > 0)).toBe(true);

      const whole = await findingsOf([trace]);
      expect(whole.findings.length).toBeGreaterThan(0);
      const inOrder = await findingsOf(segments);
      expect(inOrder.findings).toEqual(whole.findings);
      // per file: the stream's events, not the state events a continuing segment starts with
      const stateEvents = headers.reduce((n, h) => n + h.segment!.snapshot_events, 0);
      expect(inOrder.summaries.reduce((n, s) => n + s.events, 0)).toBe(whole.summaries[0]!.events + stateEvents);
      expect(inOrder.summaries.at(-1)!.state).toEqual(whole.summaries[0]!.state);

      // alone, a later segment knows every process and descriptor the run had when it began
      let separately = 0;
      for (const seg of segments) {
        const alone = await findingsOf([seg]);
        expect(alone.summaries[0]!.state.unknownProcesses, seg).toBe(0);
        expect(alone.summaries[0]!.state.healed, seg).toBe(0);
        separately += new Set(alone.findings.map((f) => f.id)).size;
      }
      // here the pipeline's chain crosses a segment boundary: only the segments replayed as one stream find it
      if (name === 'pipeline-gzip-nc') expect(separately).toBeLessThan(new Set(inOrder.findings.map((f) => f.id)).size);
    });
  }

  it('keeps the newest segments when told to, removing the oldest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-rotate-'));
    const rec = await rerecord('replays/pipeline-gzip-nc.trace.jsonl.gz', join(dir, 'run.trace.jsonl.gz'), 6000, 2);
    expect(rec.rotations).toBeGreaterThanOrEqual(4);
    expect(rec.removed).toBe(rec.rotations - 2);
    const left = segmentsOf(dir, 'run.trace.jsonl.gz');
    expect(left).toHaveLength(3);
    const headers = await Promise.all(left.map((s) => readTraceHeader(s)));
    expect(headers.map((h) => h.segment!.index)).toEqual([rec.rotations - 2, rec.rotations - 1, rec.rotations]);
    expect(existsSync(join(dir, 'run.1.trace.jsonl.gz'))).toBe(false);
    // what is left still replays as one stream from the state the oldest kept segment starts with
    const r = await findingsOf(left);
    expect(r.summaries.every((s) => s.state.unknownProcesses === 0)).toBe(true);
  });
});
