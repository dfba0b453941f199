import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SequenceLedger } from './sequence-ledger.js';

describe('SequenceLedger', () => {
  it('model: every event is taken exactly once or reported in exactly one gap, across resends, losses and host restarts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 0, max: 5 }), fate: fc.constantFrom('ok', 'ok', 'ok', 'lost', 'resend', 'restart') }), { maxLength: 60 }),
        (batches) => {
          const file = join(mkdtempSync(join(tmpdir(), 'cw-ledger-')), 'ledger.json');
          let ledger = new SequenceLedger(file);
          ledger.hello('sb', 'run1', 0);
          const taken: number[] = [];
          const gapped: number[] = [];
          let seq = 0;
          const sent: { first: number; size: number }[] = [];
          const deliver = (first: number, size: number): void => {
            const out = ledger.batch('sb', first, size);
            if (out.gap) for (let s = out.gap.from; s < out.gap.to; s++) gapped.push(s);
            for (let i = out.skip; i < size; i++) taken.push(first + i);
            ledger.save();
          };
          for (const b of batches) {
            const first = seq;
            seq += b.size;
            if (b.fate === 'lost') continue; // never arrives
            deliver(first, b.size);
            sent.push({ first, size: b.size });
            if (b.fate === 'resend') for (const p of sent.slice(-3)) deliver(p.first, p.size);
            if (b.fate === 'restart') {
              ledger = new SequenceLedger(file);
              const r = ledger.hello('sb', 'run1', Math.max(0, first - 2));
              expect(r.gap).toBeUndefined();
              // the agent resends from where the host said
              for (const p of sent.filter((x) => x.first + x.size > r.resumeFrom)) deliver(p.first, p.size);
            }
          }
          // a final empty batch at the agent's next number reveals a lost tail
          deliver(seq, 0);
          const all = [...taken, ...gapped].sort((a, b) => a - b);
          expect(all).toEqual(Array.from({ length: seq }, (_, i) => i));
        },
      ),
    );
  });

  it('a new spool run restarts numbering and is reported; an agent that forgot unsent events is a gap', () => {
    const l = new SequenceLedger();
    expect(l.hello('sb', 'a', 0)).toEqual({ resumeFrom: 0, newRun: { previous: undefined } });
    l.batch('sb', 0, 10);
    expect(l.hello('sb', 'a', 4)).toEqual({ resumeFrom: 10 });
    expect(l.hello('sb', 'a', 15)).toEqual({ resumeFrom: 15, gap: { from: 10, to: 15 } });
    expect(l.hello('sb', 'b', 0)).toEqual({ resumeFrom: 0, newRun: { previous: 'a' } });
    expect(l.batch('sb', 0, 3)).toEqual({ skip: 0 });
    expect(l.batch('sb', 1, 4)).toEqual({ skip: 2 });
    expect(l.batch('sb', 9, 1)).toEqual({ skip: 0, gap: { from: 5, to: 9 } });
  });
});
