import fc from 'fast-check';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

  it('on disk: what a reloaded ledger holds is what was saved, across appends, rewrites, forgets and restarts (model)', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('hello' as const), sb: fc.integer({ min: 0, max: 5 }), run: fc.constantFrom('a', 'b'), first: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ t: fc.constant('batch' as const), sb: fc.integer({ min: 0, max: 5 }), first: fc.integer({ min: 0, max: 50 }), count: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ t: fc.constant('save' as const) }),
      fc.record({ t: fc.constant('days' as const), days: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ t: fc.constant('restart' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const file = join(mkdtempSync(join(tmpdir(), 'cw-ledger-')), 'ledger.json');
        let clock = 0;
        const open = (): SequenceLedger => new SequenceLedger(file, { now: () => clock, retainMs: 7 * 86_400_000, maxEntries: 4 });
        let l = open();
        for (const o of ops) {
          if (o.t === 'hello') l.hello(`sb${o.sb}`, o.run, o.first);
          else if (o.t === 'batch') {
            if (l.next(`sb${o.sb}`) !== undefined) l.batch(`sb${o.sb}`, o.first, o.count);
          } else if (o.t === 'save') {
            l.save();
            const again = open();
            expect(again.loadProblems).toEqual([]);
            for (let i = 0; i < 6; i++) expect(again.next(`sb${i}`)).toBe(l.next(`sb${i}`));
            expect(again.size).toBeLessThanOrEqual(4);
          } else if (o.t === 'days') clock += o.days * 86_400_000;
          else {
            l.save();
            l = open();
          }
        }
      }),
    );
  });

  it('an acknowledgement appends one line, not the whole ledger; the journal is rewritten once it holds twice its entries', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cw-ledger-')), 'ledger.json');
    const l = new SequenceLedger(file);
    for (let i = 0; i < 5000; i++) l.hello(`sandbox-${i}`, 'run-1', 0);
    l.save();
    const whole = statSync(file).size;
    l.batch('sandbox-7', 0, 100);
    l.save();
    const line = statSync(file).size - whole;
    expect(line).toBeLessThan(100);
    for (let n = 1; n < 20_000; n++) {
      l.batch('sandbox-7', n * 100, 100);
      l.save();
    }
    const lines = readFileSync(file, 'utf8').split('\n').length - 1;
    expect(lines).toBeLessThanOrEqual(2 * 5000 + 1000 + 1);
    expect(new SequenceLedger(file).next('sandbox-7')).toBe(20_000 * 100);
  });

  it('reads a version 1 ledger; a cut-off last line is skipped and reported, the lines before it kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-ledger-'));
    const v1 = join(dir, 'v1.json');
    writeFileSync(v1, `${JSON.stringify({ sb: { run: 'r', next: 42 } })}\n`);
    const old = new SequenceLedger(v1);
    expect(old.loadProblems).toEqual([]);
    expect(old.next('sb')).toBe(42);
    old.batch('sb', 42, 8);
    old.save();
    expect(readFileSync(v1, 'utf8').split('\n')[0]).toBe('{"format":"chainwatch-ledger","version":2}');
    expect(new SequenceLedger(v1).next('sb')).toBe(50);
    appendFileSync(v1, '{"sandbox":"sb","run":"r","ne');
    const torn = new SequenceLedger(v1);
    expect(torn.next('sb')).toBe(50);
    expect(torn.loadProblems).toEqual([`${v1}:3: cut-off last line skipped`]);
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, 'not a ledger\n');
    expect(new SequenceLedger(junk).loadProblems[0]).toMatch(/neither a ledger journal nor a version 1 ledger; starting empty/);
  });

  it('forgets sandboxes not seen for the retention time, and the least recently seen beyond the bound; open streams are kept', () => {
    let clock = 0;
    const l = new SequenceLedger(undefined, { now: () => clock, retainMs: 1000, maxEntries: 3 });
    for (const s of ['a', 'b', 'c']) {
      l.hello(s, 'r', 5);
      clock += 10;
    }
    clock = 1500;
    l.hello('d', 'r', 0);
    expect(l.prune(new Set(['a']))).toEqual(['b', 'c']);
    expect([l.next('a'), l.next('b'), l.next('d')]).toEqual([5, undefined, 0]);
    for (const s of ['e', 'f']) l.hello(s, 'r', 0);
    expect(l.prune(new Set(['a']))).toEqual(['d']);
    expect(l.size).toBe(3);
    // a forgotten sandbox that comes back is a new run to the host
    expect(l.hello('b', 'r', 9)).toEqual({ resumeFrom: 9, newRun: { previous: undefined } });
  });
});
