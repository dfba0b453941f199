import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PackedReader, PackedWriter } from './packed-values.js';

/** Writes values in batches of the given sizes, reads them back in order. */
function roundTrip(values: unknown[], batch: number, w = new PackedWriter(), r = new PackedReader()): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < values.length; i += batch) {
    for (const v of values.slice(i, i + batch)) w.write(v);
    expect(w.count).toBe(Math.min(batch, values.length - i));
    r.feed(w.take());
    while (!r.done) out.push(r.next());
  }
  return out;
}

/** Equal as JSON.parse would make it: same keys in the same order, numbers bit for bit (-0 too), own `__proto__` keys. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number') return Object.is(a, b);
  if (a === null || typeof a !== 'object') return a === b;
  if (typeof b !== 'object' || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe('packed values', () => {
  it('reads back what JSON.parse made, in any batching (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(json, { maxLength: 40 }), fc.integer({ min: 1, max: 50 }), (values, batch) => {
        const got = roundTrip(values, batch);
        expect(got.length).toBe(values.length);
        got.forEach((g, i) => expect(same(values[i], g), JSON.stringify(values[i])).toBe(true));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps -0, numbers past 32 bits, fractions and the extremes of doubles', () => {
    const v = [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53), 0.1, 1e300, -5e-324, Number.MAX_VALUE];
    const got = roundTrip([v], 1)[0] as number[];
    v.forEach((x, i) => expect(Object.is(got[i], x)).toBe(true));
  });

  it('makes a __proto__ key an own property, as JSON.parse does, never the prototype', () => {
    const v = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const [got] = roundTrip([v, v], 2) as Record<string, unknown>[];
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.keys(got!)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('keeps non-ASCII, astral and long strings, and keys that need quoting', () => {
    const long = 'x'.repeat(10_000);
    const v = { 'ä"\\\n': 'päth/ünï\u{1F600}', [long]: long, '': '', '0': 'index key' };
    expect(same(v, roundTrip([v, v], 2)[1])).toBe(true);
  });

  it('sends a repeated string once and shares one instance on the reading side', () => {
    const w = new PackedWriter();
    const path = '/srv/data/file-1.txt';
    w.write({ kind: 'io', path });
    const first = w.take().byteLength;
    w.write({ kind: 'io', path });
    const second = w.take().byteLength;
    expect(second).toBeLessThan(first - path.length);
  });

  it('starts its tables over when they are full, and both ends stay in step', () => {
    const values = Array.from({ length: 70_000 }, (_, i) => ({ [`k${i % 5000}`]: `s${i}`, n: i }));
    const got = roundTrip(values, 7_000);
    expect(got).toEqual(values);
  });

  it('refuses what JSON cannot hold, and says so when its input is cut or unknown', () => {
    const w = new PackedWriter();
    expect(() => w.write(undefined)).toThrow(/undefined/);
    expect(() => w.write(Number.NaN)).toThrow(/NaN/);
    expect(() => w.write(() => 1)).toThrow(/function/);
    w.write({ a: 'text' });
    const bytes = new Uint8Array(w.take());
    const r = new PackedReader();
    r.feed(bytes.subarray(0, bytes.length - 2));
    expect(() => r.next()).toThrow(/cut short/);
    r.feed(Uint8Array.of(200));
    expect(() => r.next()).toThrow(/unknown tag/);
  });
});
