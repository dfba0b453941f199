import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OldestFirst } from './oldest-first.js';

type Op = { op: 'set' | 'refresh' | 'delete'; key: number } | { op: 'evict' } | { op: 'clear' };

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constantFrom('set' as const, 'refresh' as const, 'delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.constant({ op: 'evict' as const }),
    fc.constant({ op: 'clear' as const }),
  ),
  { maxLength: 400 },
);

describe('OldestFirst', () => {
  it('evicts in insertion order, as a plain array model does, through any mix of inserts, re-inserts, deletes and clears', () => {
    fc.assert(
      fc.property(ops, (list: Op[]) => {
        const map = new Map<number, string>();
        const order = new OldestFirst(map);
        const model: number[] = [];
        for (const o of list) {
          switch (o.op) {
            case 'set':
              if (!map.has(o.key)) model.push(o.key);
              map.set(o.key, `v${o.key}`);
              break;
            case 'refresh':
              // delete + set moves a key to the newest end
              map.delete(o.key);
              map.set(o.key, `r${o.key}`);
              if (model.includes(o.key)) model.splice(model.indexOf(o.key), 1);
              model.push(o.key);
              break;
            case 'delete':
              map.delete(o.key);
              if (model.includes(o.key)) model.splice(model.indexOf(o.key), 1);
              break;
            case 'evict': {
              const got = order.evict();
              const want = model.shift();
              expect(got?.[0]).toBe(want);
              if (got !== undefined) expect(got[1]).toMatch(/^[vr]\d+$/);
              break;
            }
            case 'clear':
              map.clear();
              model.length = 0;
          }
          expect([...map.keys()]).toEqual(model);
        }
      }),
    );
  });

  it('works on a Set', () => {
    const set = new Set(['a', 'b', 'c']);
    const order = new OldestFirst(set);
    expect(order.evict()?.[0]).toBe('a');
    set.add('d');
    expect(order.evict()?.[0]).toBe('b');
    expect(order.evict()?.[0]).toBe('c');
    expect(order.evict()?.[0]).toBe('d');
    expect(order.evict()).toBeUndefined();
    set.add('e');
    expect(order.evict()?.[0]).toBe('e');
  });

  it('keeps a bounded cache at its bound through a long run of inserts (each eviction steps over each hole once)', () => {
    const map = new Map<number, number>();
    const order = new OldestFirst(map);
    for (let i = 0; i < 200_000; i++) {
      map.set(i, i);
      if (map.size > 4096) expect(order.evict()?.[0]).toBe(i - 4096);
    }
    expect(map.size).toBe(4096);
  });
});
