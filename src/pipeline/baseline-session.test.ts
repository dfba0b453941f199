import { mkdtempSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distributionOf, quantile } from '../correlate/baseline-learner.js';
import { loadBaseline } from '../rules/baseline-file.js';
import type { Finding } from '../schema/finding.js';
import { diffBaselines } from '../rules/baseline-report.js';
import { learnBaseline, writeBaseline } from './baseline-session.js';
import { runReplay } from './replay-session.js';
import fc from 'fast-check';

const benign = ['replays/benign-send-notes.trace.jsonl.gz', 'replays/benign-download.trace.jsonl.gz'];

async function replayWith(trace: string, baselineFile: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  await runReplay({ traces: [trace], baselines: [loadBaseline(baselineFile)], onFinding: (f) => findings.push(f) });
  return findings.filter((f) => f.category === 'baseline');
}

describe('baselines', () => {
  it('learns the known quantiles, sets and transitions of recorded runs, with the traces\' digests', async () => {
    const b = await learnBaseline({ intent: 'send-notes', traces: benign });
    expect(b.runs).toBe(2);
    expect(b.traces.map((t) => [t.tasks, t.sha256.length])).toEqual([[['benign-send-notes'], 64], [['benign-download'], 64]]);
    expect(b.features.sends_per_min).toMatchObject({ n: 2, min: 1, p50: 1, max: 2 });
    expect(b.features.bytes_out_per_min).toMatchObject({ n: 2, min: 79, p50: 79, p99: 1332, max: 1332 });
    expect(b.features.send_gap_ms?.n).toBe(1);
    expect(b.sets.executables).toEqual(['/usr/bin/bash', '/usr/bin/curl']);
    // both runs sent to the recorder's one HTTP server (its port is in the recorded command)
    const header = JSON.parse(gunzipSync(readFileSync(benign[0]!)).toString('utf8').split('\n')[0]!) as { scope: { command: string[] } };
    expect(b.sets.destinations).toEqual([/127\.0\.0\.2:\d+/.exec(header.scope.command.join(' '))![0]]);
    expect(b.sets.data_classes).toEqual([]);
    expect(Object.keys(b.transitions)).toEqual(expect.arrayContaining(['bash', 'curl']));
    expect(b.transitions.curl!['file.open>io.in']).toBeGreaterThan(0);
  });

  it('a run scored against a baseline learned from it deviates in nothing; an exfiltration sends a class never seen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-baseline-'));
    const file = join(dir, 'b.json');
    writeBaseline(await learnBaseline({ intent: 'send-notes', traces: benign }), file);
    for (const t of benign) expect(await replayWith(t, file), t).toEqual([]);
    const exfil = await replayWith('replays/curl-put-shadow.trace.jsonl.gz', file);
    expect(exfil.map((f) => f.rule)).toContain('baseline.data_classes');
    const f = exfil.find((x) => x.rule === 'baseline.data_classes')!;
    expect(f.summary).toMatch(/data class sent secret never seen for intent send-notes/);
    expect(f.task).toBe('curl-put-shadow');
    expect(f.process.comm).toBe('curl');
  });

  it('diff names what changed', async () => {
    const a = await learnBaseline({ intent: 'x', traces: [benign[0]!] });
    const b = await learnBaseline({ intent: 'x', traces: benign });
    const d = diffBaselines(a, b);
    expect(d.changed).toBe(true);
    expect(d.text).toMatch(/runs: 1 → 2/);
    expect(diffBaselines(b, b).changed).toBe(false);
  });

  it('quantiles are the nearest-rank ones and ordered, whatever the values', () => {
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5)).toBe(5);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBe(10);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 200 }), (v) => {
        const d = distributionOf(v);
        const seq = [d.min, d.p1, d.p5, d.p25, d.p50, d.p75, d.p95, d.p99, d.max];
        for (let i = 1; i < seq.length; i++) expect(seq[i]!).toBeGreaterThanOrEqual(seq[i - 1]!);
        expect(d.n).toBe(v.length);
      }),
    );
  });
});
