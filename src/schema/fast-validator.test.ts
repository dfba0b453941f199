import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { packageDir } from '../util/package-dir.js';
import { Event } from './event.js';
import { compileFastValidator } from './fast-validator.js';

const isEvent = compileFastValidator(Event)!;

/** Every event of the recorded replays (real runs of real programs), read raw: readTrace itself uses the check under test. */
function recordedEvents(): Record<string, unknown>[] {
  const dir = packageDir('replays', 'README.md')!;
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.trace.jsonl.gz'))) {
    const lines = gunzipSync(readFileSync(join(dir, f))).toString('utf8').split('\n').filter(Boolean);
    for (const l of lines.slice(1)) out.push(JSON.parse(l) as Record<string, unknown>);
  }
  return out;
}

/** The fast check may say no where zod says yes, never the reverse, and a yes means the value is what zod would return. */
function agreesWithZod(v: unknown): void {
  if (!isEvent(v)) return;
  const z = Event.safeParse(v);
  expect(z.success, `fast check accepted what zod rejects: ${JSON.stringify(v)}`).toBe(true);
  expect(isDeepStrictEqual(z.data, v), `zod would return another value for ${JSON.stringify(v)}`).toBe(true);
}

describe('the compiled event check', () => {
  const events = recordedEvents();

  it('accepts every event of the recorded replays, as zod does', () => {
    expect(events.length).toBeGreaterThan(1000);
    const kinds = new Set<unknown>();
    for (const e of events) {
      expect(isEvent(e), JSON.stringify(e)).toBe(true);
      agreesWithZod(e);
      kinds.add(e['kind']);
    }
    expect(kinds.size).toBeGreaterThan(10);
  });

  it('never accepts what zod rejects, on real events with a field removed, replaced or added (property)', () => {
    const keyOf = (e: Record<string, unknown>, i: number): string => Object.keys(e)[i % Object.keys(e).length]!;
    fc.assert(
      fc.property(
        fc.constantFrom(...events),
        fc.nat(),
        fc.oneof(
          fc.constant<'delete'>('delete'),
          fc.constant<'add'>('add'),
          fc.constant<'replace'>('replace'),
          fc.constant<'nest'>('nest'),
        ),
        fc.oneof(fc.jsonValue(), fc.constantFrom(-1, 0.5, 2 ** 53, 65536, '', '1:2', '8:1:3', null, true, [], {}, [1, 2], [null, null])),
        (e, i, op, value) => {
          const v: Record<string, unknown> = structuredClone(e);
          const k = keyOf(v, i);
          if (op === 'delete') delete v[k];
          else if (op === 'add') v[`x_${k}`] = value;
          else if (op === 'replace') v[k] = value;
          else {
            // inside a nested object (proc, res, an endpoint) when there is one
            const inner = Object.values(v).find((x): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x));
            if (inner === undefined) v[k] = value;
            else {
              const ik = Object.keys(inner)[i % Math.max(1, Object.keys(inner).length)] ?? 'x';
              inner[ik] = value;
            }
          }
          agreesWithZod(v);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('never accepts what zod rejects, on arbitrary JSON (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => agreesWithZod(v)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...events.map((e) => e['kind'])), fc.dictionary(fc.string(), fc.jsonValue()), (kind, rest) => agreesWithZod({ ...rest, kind })),
      { numRuns: 2000 },
    );
  });

  it('says no to unknown keys and prototype tricks (zod strips them; the value is not usable as it is)', () => {
    const e = events.find((x) => x['kind'] === 'io')!;
    expect(isEvent({ ...e, extra: 1 })).toBe(false);
    expect(Event.safeParse({ ...e, extra: 1 }).success).toBe(true);
    expect(isEvent(JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(e).slice(1)}`))).toBe(false);
  });

  it('is not compiled for constructs it does not know (the caller then uses zod for everything)', () => {
    expect(compileFastValidator(z.object({ a: z.string().email() }))).toBeNull();
    expect(compileFastValidator(z.object({ a: z.string() }).refine(() => true))).toBeNull();
    expect(compileFastValidator(z.string().transform((s) => s.length))).toBeNull();
    expect(compileFastValidator(z.strictObject({ a: z.string() }))).toBeNull();
    expect(compileFastValidator(z.object({ a: z.number().default(1) }))).toBeNull();
    expect(compileFastValidator(z.object({ a: z.number().int().min(1).max(3) }))).not.toBeNull();
  });

  it('checks numbers like zod: safe integers, bounds, no NaN or Infinity', () => {
    const s = z.object({ a: z.number().int().min(0).max(65535), b: z.number().int().positive(), c: z.number() });
    const f = compileFastValidator(s)!;
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, 65535, 65536, -0, 2 ** 53, NaN, Infinity)), fc.oneof(fc.integer(), fc.constantFrom(0, 1, -1)), fc.double(), (a, b, c) => {
        const v = { a, b, c };
        expect(f(v)).toBe(s.safeParse(v).success);
      }),
      { numRuns: 3000 },
    );
  });
});
