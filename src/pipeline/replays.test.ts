import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Finding } from '../schema/finding.js';
import { REPLAY_LIBRARY } from '../testing/replay-library.js';
import { runReplay } from './replay-session.js';

/**
 * The replay library (replays/README.md): each trace was recorded by
 * `watch --record` on real programs, next to the findings `watch` printed
 * live. Replaying it through the shipped rules must yield exactly those,
 * and they must be the rules the library says the run must yield (so a
 * recording that went wrong live cannot become the expectation).
 */
const dir = join(import.meta.dirname, '../../replays');
const traces = readdirSync(dir).filter((f) => f.endsWith('.trace.jsonl.gz'));

const byId = (fs: Finding[]): Map<string, Finding> => new Map(fs.map((f) => [f.id, f]));

describe('replays/', () => {
  it('holds the library the README lists, and every built-in chain rule fires in it', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(traces.map((t) => t.replace('.trace.jsonl.gz', '')).sort()).toEqual(REPLAY_LIBRARY.map((s) => s.name).sort());
    for (const s of REPLAY_LIBRARY) expect(readme).toContain(`\`${s.name}\``);
    const chainRules = [...readFileSync(join(dir, '../rules/chains.yaml'), 'utf8').matchAll(/^ {2}- id: (\S+)$/gm)].map((m) => m[1]);
    expect(chainRules.length).toBeGreaterThanOrEqual(5);
    expect(new Set(REPLAY_LIBRARY.flatMap((s) => s.mustYield))).toEqual(new Set(chainRules));
  });

  it('findings name the command line and who started it, also for a process that exited before the finding was made', async () => {
    const replay = async (name: string): Promise<Finding> => {
      const got: Finding[] = [];
      await runReplay({ traces: [join(dir, `${name}.trace.jsonl.gz`)], onFinding: (f) => got.push(f) });
      return got[0]!;
    };
    const nc = (await replay('pipeline-gzip-nc')).process;
    expect(nc.args).toEqual(['nc', '-N', '127.0.0.2', expect.stringMatching(/^\d+$/)]);
    expect(nc.ancestors![0]).toMatchObject({ pid: nc.ppid, comm: 'bash', args: ['bash', '-c', expect.stringMatching(/^cat \/etc\/shadow \| gzip \| nc /)] });
    // fd.passed-to-unwatched is reported when its 2 s window ends, after the sender exited
    const py = (await replay('fd-passed-out')).process;
    expect(py.args!.slice(0, 2)).toEqual([expect.stringMatching(/python3$/), '-c']);
    expect(py.ancestors![0]).toMatchObject({ pid: py.ppid, comm: 'bash' });
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
      const mustYield = REPLAY_LIBRARY.find((s) => `${s.name}.trace.jsonl.gz` === t)!.mustYield;
      expect([...byId(got).values()].map((f) => f.rule).sort()).toEqual(mustYield);
    });
  }
});
