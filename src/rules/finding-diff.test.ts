import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Finding } from '../schema/finding.js';
import { diffFindings, passed } from './finding-diff.js';

const replays = join(import.meta.dirname, '../../replays');
const real: Finding[] = readdirSync(replays)
  .filter((f) => f.endsWith('.findings.jsonl'))
  .flatMap((f) => readFileSync(join(replays, f), 'utf8').trim().split('\n').filter(Boolean))
  .map((l) => Finding.parse(JSON.parse(l)));

/** Real findings under made-up ids, so sets of any size can be drawn. */
const pool: Finding[] = Array.from({ length: 12 }, (_, i) => ({ ...real[i % real.length]!, id: i.toString(16).padStart(24, '0') }));

describe('finding diff (rules test)', () => {
  it('uses real findings', () => expect(real.length).toBeGreaterThanOrEqual(4));

  it('missing, new and changed are exactly the set differences and the changed verdicts, whatever the order and the counter updates', () => {
    fc.assert(
      fc.property(
        fc.subarray(pool.map((_, i) => i)),
        fc.subarray(pool.map((_, i) => i)),
        fc.uniqueArray(fc.constantFrom('severity', 'bytes_sent', 'summary', 'time', 'policy_hash', 'chain'), { maxLength: 3 }),
        fc.subarray(pool.map((_, i) => i)),
        fc.integer(),
        (a, b, edits, editedIdx, seed) => {
          const edited = new Set(editedIdx.filter((i) => a.includes(i) && b.includes(i)));
          const got = b.map((i) => {
            if (!edited.has(i)) return pool[i]!;
            const f = structuredClone(pool[i]!);
            for (const e of edits) {
              if (e === 'severity') f.severity = f.severity === 'critical' ? 'low' : 'critical';
              if (e === 'bytes_sent') f.bytes_sent += 1;
              if (e === 'summary') f.summary += ' (reworded)';
              if (e === 'time') f.time = '2030-01-01T00:00:00.000Z';
              if (e === 'policy_hash') f.policy_hash = 'f'.repeat(64);
              if (e === 'chain') f.chain = [...f.chain, f.chain[0]!];
            }
            return f;
          });
          // an earlier state of each expected finding (a counter update came later) changes nothing
          const expected = a.flatMap((i) => [{ ...pool[i]!, sends: 1, bytes_sent: 0 }, pool[i]!]);
          const shuffled = [...got].sort((x, y) => ((x.id.charCodeAt(23) * 31 + seed) % 7) - ((y.id.charCodeAt(23) * 31 + seed) % 7));
          const d = diffFindings(expected, shuffled);
          const ids = (fs: Finding[]) => fs.map((f) => f.id).sort();
          expect(ids(d.missing)).toEqual(a.filter((i) => !b.includes(i)).map((i) => pool[i]!.id).sort());
          expect(ids(d.unexpected)).toEqual(b.filter((i) => !a.includes(i)).map((i) => pool[i]!.id).sort());
          // only the verdict counts: summary, time and policy hash are not part of it
          const verdictEdits = edits.filter((e) => e === 'severity' || e === 'bytes_sent' || e === 'chain');
          const changed = verdictEdits.length > 0 ? [...edited] : [];
          expect(d.changed.map((c) => c.got.id).sort()).toEqual(changed.map((i) => pool[i]!.id).sort());
          for (const c of d.changed) expect(c.fields.map(([k]) => k).sort()).toEqual([...new Set(verdictEdits)].sort());
          expect(d.same.length + d.changed.length).toBe(a.filter((i) => b.includes(i)).length);
          expect(passed(d)).toBe(d.missing.length + d.unexpected.length + d.changed.length === 0);
        },
      ),
    );
  });
});
