import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRawRecord, RAW_LAYOUT, type RawKind } from './raw-record.js';

const kinds = Object.keys(RAW_LAYOUT) as RawKind[];
/** The most numeric fields any record has. */
const MOST = Math.max(...kinds.map((k) => RAW_LAYOUT[k].nums.length));

describe('raw probe records', () => {
  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = parseRawRecord(s);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.array(fc.oneof(fc.string(), fc.integer().map(String)), { maxLength: MOST + 2 }), (k, fields) => {
        const r = parseRawRecord([k, ...fields].join('\t'));
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every layout, with any trailing string (TABs, newlines, quotes included)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.array(fc.oneof(fc.nat(), fc.integer({ min: -2147483648, max: -1 })), { minLength: MOST, maxLength: MOST }),
        fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !s.includes('\0')),
        (kind, nums, str) => {
          const layout = RAW_LAYOUT[kind];
          const n = nums.slice(0, layout.nums.length);
          const text = [kind, ...n.map(String), ...(layout.str === null ? [] : [str])].join('\t') + '\n';
          const r = parseRawRecord(text);
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          expect(r.rec.kind).toBe(kind);
          expect(r.rec.n).toEqual(n);
          expect(r.rec.s).toBe(layout.str === null ? '' : str);
          // short timestamps are exact in n[0]; the text is kept only beyond 15 digits
          expect(r.rec.tsRaw).toBe('');
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('keeps the text of a timestamp beyond 2^53, exactly', () => {
    const r = parseRawRecord('CLOSE\t123456789012345678\t1\t2\t2\t3\t0\n');
    expect(r.ok && r.rec.tsRaw).toBe('123456789012345678');
    const esc = parseRawRecord('CLOSE\\t123456789012345678\\t1\\t2\\t2\\t3\\t0\\n', true);
    expect(esc.ok && esc.rec.n.slice(1)).toEqual([1, 2, 2, 3, 0]);
    expect(esc.ok && esc.rec.tsRaw).toBe('123456789012345678');
  });

  it('says what is wrong', () => {
    expect(parseRawRecord('NOPE\t1')).toEqual({ ok: false, reason: 'unknown record kind "NOPE"' });
    expect(parseRawRecord('CLOSE\t1\t2\t3')).toMatchObject({ ok: false, reason: 'CLOSE: expected 6 numeric fields, got 3' });
    expect(parseRawRecord('CLOSE\t1\t2\t3\t4\tx\t0')).toMatchObject({ ok: false, reason: 'CLOSE: field fd is not an integer: "x"' });
    expect(parseRawRecord('CLOSE\t1\t2\t3\t4\t5\t0\textra')).toMatchObject({ ok: false });
    expect(parseRawRecord('__proto__\t1')).toMatchObject({ ok: false });
  });

  it('tells kinds apart by their whole name, not by the shape it looks them up by', () => {
    for (const kind of Object.keys(RAW_LAYOUT)) {
      // same length, first two and last characters, something else in between (or a changed last one)
      const twin = kind.length > 3 ? `${kind.slice(0, 2)}${'Z'.repeat(kind.length - 3)}${kind.slice(-1)}` : `${kind}Z`;
      expect(parseRawRecord(`${twin}\t1`)).toEqual({ ok: false, reason: `unknown record kind ${JSON.stringify(twin)}` });
      expect(parseRawRecord(`${kind.toLowerCase()}\t1`).ok).toBe(false);
    }
  });
});
