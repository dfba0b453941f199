import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClockOffset } from './clock-offset.js';

describe('ClockOffset', () => {
  it('the true offset always lies within the reported error bound, whatever the delays on each leg', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.array(fc.record({ start: fc.bigInt({ min: 0n, max: 10n ** 12n }), up: fc.bigInt({ min: 0n, max: 10n ** 8n }), down: fc.bigInt({ min: 0n, max: 10n ** 8n }) }), { minLength: 1, maxLength: 20 }),
        (offset, probes) => {
          const c = new ClockOffset();
          for (const p of probes) c.add(p.start, p.start + p.up + offset, p.start + p.up + p.down);
          const e = c.estimate()!;
          const diff = e.offsetNs - offset;
          // integer halving: at most 1 ns beyond the bound
          expect(diff <= e.errorNs + 1n && -diff <= e.errorNs + 1n).toBe(true);
        },
      ),
    );
  });

  it('keeps the tightest of the last samples and maps guest readings onto the host clock', () => {
    const c = new ClockOffset(3);
    c.add(1000n, 5_000_600n, 1200n); // rtt 200, offset 5_000_600 - 1100 = 4_999_500
    c.add(2000n, 5_001_520n, 2040n); // rtt 40, offset 5_001_520 - 2020 = 4_999_500 (best)
    c.add(3000n, 5_003_000n, 3400n);
    expect(c.estimate()).toEqual({ offsetNs: 4_999_500n, errorNs: 20n, samples: 3 });
    expect(c.toHost(5_010_000n)).toBe(10_500n);
    // the best sample leaves the window
    c.add(4000n, 5_004_100n, 4100n);
    c.add(5000n, 5_005_100n, 5100n);
    c.add(6000n, 5_006_100n, 6100n);
    expect(c.estimate()!.errorNs).toBe(50n);
  });

  it('ignores an answer that arrives before its probe left', () => {
    const c = new ClockOffset();
    c.add(100n, 0n, 50n);
    expect(c.estimate()).toBeUndefined();
  });
});
