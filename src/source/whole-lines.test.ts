import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WholeLines } from './whole-lines.js';

/** Cuts `bytes` at the given offsets. */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('whole lines', () => {
  it('gives back the whole text, cut only after newlines, however the bytes are cut into chunks', () => {
    const text = fc.array(fc.oneof(fc.string(), fc.constantFrom('\n', 'é', '€', '😀', '{"type": "printf"}', '\t')), { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 12 }), (t, at) => {
        const w = new WholeLines();
        const runs: string[] = [];
        for (const c of cut(Buffer.from(t, 'utf8'), at)) runs.push(w.push(c));
        const rest = w.end();
        expect(runs.join('') + rest).toBe(t);
        for (const r of runs) if (r !== '') expect(r.endsWith('\n')).toBe(true);
        expect(rest.includes('\n')).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('holds a partial line until its newline arrives', () => {
    const w = new WholeLines();
    expect(w.push(Buffer.from('{"a"'))).toBe('');
    expect(w.push(Buffer.from(': 1}\n{"b'))).toBe('{"a": 1}\n');
    expect(w.push(Buffer.from('": 2}\n'))).toBe('{"b": 2}\n');
    expect(w.end()).toBe('');
  });
});
