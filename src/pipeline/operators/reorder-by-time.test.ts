import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
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
});
