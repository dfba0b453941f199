import fc from 'fast-check';
import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import type { Event } from '../../schema/event.js';
import { ev } from '../../testing/events.js';
import { reorderByTime, type ReorderStats } from './reorder-by-time.js';

describe('reorderByTime', () => {
  it('releases every event exactly once, in timestamp order, stable for equal timestamps', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(50), { maxLength: 60 }), async (tss) => {
        const input: Event[] = tss.map((ts, i) => ({ ...ev.close(1, i), ts }));
        const stats: ReorderStats = { late: 0, lateSummaries: 0, lateSamples: [], maxBuffered: 0 };
        const out = await lastValueFrom(from(input).pipe(reorderByTime({ maxHoldNs: 1e9, watermark: () => -1, stats }), toArray()));
        expect(out.length).toBe(input.length);
        const expected = [...input].sort((a, b) => a.ts - b.ts);
        expect(out).toEqual(expected);
        expect(stats.late).toBe(0);
      }),
    );
  });

  it('releasing in many steps as delivery is proven between arrivals: every event once, in timestamp order, none late', () => {
    vi.useFakeTimers();
    try {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(1000), fc.nat(4), fc.nat(3000)), { maxLength: 400 }), (steps) => {
          const input = new Subject<Event>();
          const out: Event[] = [];
          let proven = -1;
          const stats: ReorderStats = { late: 0, lateSummaries: 0, lateSamples: [], maxBuffered: 0 };
          input.pipe(reorderByTime({ maxHoldNs: 1e15, watermark: () => proven, stats, tickMs: 1 })).subscribe((e) => out.push(e));
          const sent: Event[] = [];
          for (const [jitter, tick, advance] of steps) {
            // an arrival is never behind what delivery already proved (so never late)
            const e = { ...ev.close(1, sent.length), ts: proven + 1 + jitter };
            sent.push(e);
            input.next(e);
            if (tick === 0) {
              proven += advance;
              vi.advanceTimersByTime(1);
            }
          }
          input.complete();
          expect(stats.late).toBe(0);
          expect(out).toEqual([...sent].sort((a, b) => a.ts - b.ts));
        }),
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it('a long run with delivery proven just behind the arrivals (held events kept while released ones are dropped in bulk)', () => {
    vi.useFakeTimers();
    try {
      const input = new Subject<Event>();
      const out: Event[] = [];
      let proven = -1;
      const stats: ReorderStats = { late: 0, lateSummaries: 0, lateSamples: [], maxBuffered: 0 };
      input.pipe(reorderByTime({ maxHoldNs: 1e15, watermark: () => proven, stats, tickMs: 1 })).subscribe((e) => out.push(e));
      const sent: Event[] = [];
      for (let i = 0; i < 20_000; i++) {
        const e = { ...ev.close(1, i), ts: i };
        sent.push(e);
        input.next(e);
        if (i % 100 === 99) {
          proven = i - 50;
          vi.advanceTimersByTime(1);
          expect(out.length).toBe(i - 49);
        }
      }
      input.complete();
      expect(out).toEqual(sent);
      expect(stats.maxBuffered).toBeLessThanOrEqual(150);
    } finally {
      vi.useRealTimers();
    }
  });
});
