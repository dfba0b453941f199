import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.js';

describe('LogThrottle', () => {
  it('logs the first few, then at most one line per interval, and the lines with what is pending account for every occurrence', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 300 }), (gaps) => {
        let t = 0;
        const th = new LogThrottle(5, 10_000, () => t);
        const lines: number[] = [];
        let accounted = 0;
        for (const g of gaps) {
          t += g;
          const r = th.take();
          if (r.log) {
            lines.push(t);
            accounted += r.occurrences;
          }
        }
        expect(accounted + th.pending).toBe(gaps.length);
        for (let i = 5; i < lines.length; i++) expect(lines[i]! - lines[i - 1]!).toBeGreaterThanOrEqual(10_000);
        expect(lines.length).toBeGreaterThanOrEqual(Math.min(5, gaps.length));
      }),
    );
  });

  it('a burst of 10,000 in one second is 5 lines, then one after the interval standing for the rest', () => {
    let t = 0;
    const th = new LogThrottle(5, 10_000, () => t);
    let lines = 0;
    for (let i = 0; i < 10_000; i++) {
      t = i / 10;
      if (th.take().log) lines++;
    }
    expect(lines).toBe(5);
    t = 20_000;
    expect(th.take()).toEqual({ log: true, occurrences: 9_996 });
  });
});
