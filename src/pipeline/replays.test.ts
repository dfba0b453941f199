import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Finding } from '../schema/finding.js';
import { runReplay } from './replay-session.js';

/**
 * The replay library (replays/README.md): each trace was recorded by
 * `watch --record` on real programs, next to the findings `watch` printed
 * live. Replaying it through the shipped rules must yield exactly those.
 */
const dir = join(import.meta.dirname, '../../replays');
const traces = readdirSync(dir).filter((f) => f.endsWith('.trace.jsonl.gz'));

const byId = (fs: Finding[]): Map<string, Finding> => new Map(fs.map((f) => [f.id, f]));

describe('replays/', () => {
  it('holds the library the README lists', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(traces.length).toBeGreaterThanOrEqual(6);
    for (const t of traces) expect(readme).toContain(`\`${t.replace('.trace.jsonl.gz', '')}\``);
  });

  for (const t of traces) {
    it(`${t}: replay yields the findings watch printed live`, async () => {
      const expected = readFileSync(join(dir, t.replace('.trace.jsonl.gz', '.findings.jsonl')), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => Finding.parse(JSON.parse(l)));
      const got: Finding[] = [];
      const [s] = await runReplay({ traces: [join(dir, t)], onFinding: (f) => got.push(f) });
      expect(s!.cut).toBeUndefined();
      expect(byId(got)).toEqual(byId(expected));
      expect(got.length).toBe(expected.length);
      if (t.startsWith('benign-')) expect(got).toEqual([]);
      else expect(got.map((f) => f.rule)).toContain('exfil.read-then-transmit');
    });
  }
});
