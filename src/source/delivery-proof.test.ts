import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeliveryProof } from './delivery-proof.js';

/**
 * A model of bpftrace 0.17's reader: records are stamped and written into
 * per-CPU rings; the reader runs rounds, each visiting every ring once and
 * taking what the ring held when the visit began. TICKs are written to
 * ring 0 every 10 ms. The reader hands lines to us at the time it visits;
 * we read them after a delay. The proof must never claim delivery of a time
 * for which a record is still undelivered.
 */
interface Rec {
  stamp: number;
  tick: boolean;
}

function simulate(cpus: number, writes: { cpu: number; at: number }[], visitCost: number[], readDelay: number): { unsound: number; proven: bigint } {
  const rings: Rec[][] = Array.from({ length: cpus }, () => []);
  const ticks: Rec[] = [];
  const end = Math.max(0, ...writes.map((w) => w.at)) + 200;
  for (let t = 10; t <= end; t += 10) ticks.push({ stamp: t, tick: true });
  // pending writes ordered by time, placed in their ring when the clock passes them
  const recs = writes.map((w) => ({ ...w, rec: { stamp: w.at, tick: false } }));
  const all = recs.map((w) => w.rec);
  const pend = [...recs, ...ticks.map((r) => ({ cpu: 0, at: r.stamp, rec: r }))].sort((a, b) => a.at - b.at);
  let pi = 0;
  const delivered: { rec: Rec; seenAt: number }[] = [];
  let clock = 0;
  let round = 0;
  const place = (upTo: number): void => {
    while (pi < pend.length && pend[pi]!.at <= upTo) {
      rings[pend[pi]!.cpu]!.push(pend[pi]!.rec);
      pi++;
    }
  };
  while (pi < pend.length || rings.some((r) => r.length > 0)) {
    for (let c = 0; c < cpus; c++) {
      place(clock);
      const taken = rings[c]!.splice(0);
      for (const rec of taken) delivered.push({ rec, seenAt: clock + readDelay });
      clock += visitCost[(round * cpus + c) % visitCost.length]! + taken.length * 0.01;
    }
    round++;
    clock += 1;
  }
  // feed ticks to the proof in delivery order; check every claim against what was delivered so far
  const proof = new DeliveryProof(0n);
  const everything = [...all, ...ticks];
  const seen = new Set<Rec>();
  let unsound = 0;
  for (const d of delivered) {
    seen.add(d.rec);
    if (!d.rec.tick) continue;
    const proven = Number(proof.onTick(BigInt(Math.round(d.rec.stamp * 1e6)), BigInt(Math.round(d.seenAt * 1e6)))) / 1e6;
    if (proven >= 0 && everything.some((r) => r.stamp < proven && !seen.has(r))) unsound++;
  }
  return { unsound, proven: proof.upTo };
}

describe('DeliveryProof', () => {
  it('needs two later TICKs, each stamped after the previous one was read', () => {
    const p = new DeliveryProof(0n);
    expect(p.onTick(10n, 15n)).toBe(-1n);
    // stamped before we read the first one: could share its round, proves nothing
    expect(p.onTick(12n, 16n)).toBe(-1n);
    expect(p.onTick(20n, 22n)).toBe(-1n); // stamped after 15: the first tick's round is over… once this one's round is too
    expect(p.onTick(30n, 31n)).toBe(12n); // both earlier ticks now have their two successors
    expect(p.onTick(40n, 41n)).toBe(20n);
    expect(p.upTo).toBe(20n);
  });

  it('never proves a time for which a record is still on its way (model of per-CPU rings read in rounds)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ cpu: fc.nat(3), at: fc.double({ min: 0, max: 300, noNaN: true }) }), { maxLength: 80 }),
        fc.array(fc.double({ min: 0, max: 60, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 40, noNaN: true }),
        (cpus, writes, visitCost, readDelay) => {
          const ws = writes.map((w) => ({ cpu: w.cpu % cpus, at: w.at }));
          const r = simulate(cpus, ws, visitCost, readDelay);
          expect(r.unsound).toBe(0);
        },
      ),
    );
  });
});
