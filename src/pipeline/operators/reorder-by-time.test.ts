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
        const stats: ReorderStats = { late: 0, lateSummaries: 0, lateDeferred: 0, lateSamples: [], maxBuffered: 0 };
        const out = await lastValueFrom(from(input).pipe(reorderByTime({ maxHoldNs: 1e9, watermark: () => -1, stats }), toArray()));
        expect(out.length).toBe(input.length);
        const expected = [...input].sort((a, b) => a.ts - b.ts);
        expect(out).toEqual(expected);
        expect(stats.late).toBe(0);
      }),
    );
  });

  it('releasing in many steps as delivery is proven between arrivals: every event once, in timestamp order, none late', () => {
    withFakeTimers(() => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(1000), fc.nat(4), fc.nat(3000)), { maxLength: 400 }), (steps) => {
          const r = steppedReorder();
          for (const [jitter, tick, advance] of steps) {
            // an arrival is never behind what delivery already proved (so never late)
            r.send(r.proven + 1 + jitter);
            if (tick === 0) r.prove(r.proven + advance);
          }
          r.end();
          expect(r.stats.late).toBe(0);
          expect(r.out).toEqual([...r.sent].sort((a, b) => a.ts - b.ts));
        }),
      );
    });
  });

  it('equal timestamps arriving in different ticks keep their arrival order (held events merged with later arrivals)', () => {
    withFakeTimers(() => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(4), fc.boolean()), { maxLength: 200 }), (steps) => {
          const r = steppedReorder();
          for (const [ts, tick] of steps) {
            r.send(ts);
            // a tick with nothing proven: arrivals are admitted (sorted, merged), none released
            if (tick) r.prove(-1);
          }
          r.end();
          expect(r.out).toEqual([...r.sent].sort((a, b) => a.ts - b.ts));
        }),
      );
    });
  });

  it('a read the probe held back by design that arrives behind released events is passed on and counted apart, not as an ordering fault', () => {
    withFakeTimers(() => {
      const r = steppedReorder();
      r.send(10);
      r.send(20);
      r.prove(20);
      r.inputDeferred({ ...ev.read(1, 3, 10, '8:1:5'), ts: 15 });
      r.send(5);
      r.end();
      expect(r.out.map((e) => e.ts)).toEqual([10, 20, 15, 5]);
      expect(r.stats.lateDeferred).toBe(1);
      expect(r.stats.late).toBe(1);
      expect(r.stats.lateSamples.map((s) => s.ts)).toEqual([5]);
    });
  });

  it('a long run with delivery proven just behind the arrivals (held events kept while released ones are dropped in bulk)', () => {
    withFakeTimers(() => {
      const r = steppedReorder();
      for (let i = 0; i < 20_000; i++) {
        r.send(i);
        if (i % 100 === 99) {
          r.prove(i - 50);
          expect(r.out.length).toBe(i - 49);
        }
      }
      r.end();
      expect(r.out).toEqual(r.sent);
      expect(r.stats.maxBuffered).toBeLessThanOrEqual(150);
    });
  });
});

describe('reorderByTime on a quiet stream', () => {
  it('runs no timer while it holds nothing, and a wake-up moves the rule clock on with nothing held', () => {
    withFakeTimers(() => {
      const input = new Subject<Event>();
      const stats: ReorderStats = { late: 0, lateSummaries: 0, lateDeferred: 0, lateSamples: [], maxBuffered: 0 };
      let proven = -1;
      let wake = (): void => undefined;
      const clock: number[] = [];
      const out: Event[] = [];
      input
        .pipe(reorderByTime({ maxHoldNs: 1e15, watermark: () => proven, stats, tickMs: 1, onWake: (w) => (wake = w), onReleased: (t) => clock.push(t) }))
        .subscribe((e) => out.push(e));
      expect(vi.getTimerCount()).toBe(0);
      // an event is held: the check timer runs until delivery is proven past it
      input.next({ ...ev.close(1, 3), ts: 100 });
      expect(vi.getTimerCount()).toBe(1);
      proven = 150;
      vi.advanceTimersByTime(1);
      expect(out.map((e) => e.ts)).toEqual([100]);
      vi.advanceTimersByTime(1);
      expect(vi.getTimerCount()).toBe(0);
      // nothing held, no timer: the source's wake-up still carries the proven time to the rule clock (absent windows end)
      proven = 900;
      vi.advanceTimersByTime(100);
      expect(clock.at(-1)).toBe(150);
      wake();
      wake();
      vi.runOnlyPendingTimers();
      expect(clock.at(-1)).toBe(900);
      expect(vi.getTimerCount()).toBe(0);
      input.complete();
    });
  });
});

function withFakeTimers(body: () => void): void {
  vi.useFakeTimers();
  try {
    body();
  } finally {
    vi.useRealTimers();
  }
}

/** A reorder stage driven by hand (under fake timers): events in, delivery proven up to a time (then one tick), what came out. */
function steppedReorder() {
  const input = new Subject<Event>();
  const out: Event[] = [];
  const sent: Event[] = [];
  let proven = -1;
  let deferred = false;
  const stats: ReorderStats = { late: 0, lateSummaries: 0, lateDeferred: 0, lateSamples: [], maxBuffered: 0 };
  input.pipe(reorderByTime({ maxHoldNs: 1e15, watermark: () => proven, stats, tickMs: 1, deferred: () => deferred })).subscribe((e) => out.push(e));
  return {
    out,
    sent,
    stats,
    get proven(): number {
      return proven;
    },
    send(ts: number): void {
      const e = { ...ev.close(1, sent.length), ts };
      sent.push(e);
      input.next(e);
    },
    /** An event made by the caller, handed over as one the probe held back by design (the decoder's flag set meanwhile). */
    inputDeferred(e: Event): void {
      deferred = true;
      input.next(e);
      deferred = false;
    },
    prove(upTo: number): void {
      proven = upTo;
      vi.advanceTimersByTime(1);
    },
    end: (): void => input.complete(),
  };
}
