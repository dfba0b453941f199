import { afterAll, describe, expect, it } from 'vitest';
import { LiveHarness } from '../testing/live-harness.js';

/**
 * The probe's TICKs (the delivery proof) on a quiet scope: every 100 ms, not
 * every 5 ms, so watching an idle host costs few wake-ups; fast again as soon
 * as a record is printed, and on chainwatch's request when it stops. The
 * rule clock (what ends an `absent` window) still moves while quiet.
 */

let h: LiveHarness | undefined;

afterAll(() => h?.cleanup());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('live: delivery-proof TICKs on a quiet scope', () => {
  it('while nothing happens the proven time still moves, a few times a second; records after the quiet are proven and delivered', async () => {
    const advances: number[] = [];
    h = new LiveHarness('quiet', { onWatermark: (ts) => advances.push(ts) });
    await h.start();
    // let the start settle (HELLO, the /proc snapshot), then watch a quiet 1.5 s
    await sleep(500);
    const before = advances.length;
    await sleep(1500);
    const quiet = advances.slice(before);
    // heartbeat TICKs every 100 ms: ~15 advances of the proven time (5 ms TICKs gave ~300)
    expect(quiet.length).toBeGreaterThanOrEqual(5);
    expect(quiet.length).toBeLessThanOrEqual(60);
    // a record wakes the fast TICKs: the process' events, its exit included, come through and are proven
    const r = await h.run('one', 'cat /etc/hostname > /dev/null');
    expect(r.code).toBe(0);
    const exit = r.events.find((e) => e.kind === 'process.exit' && e.group_dead);
    expect(exit).toBeDefined();
    expect(advances.at(-1)!).toBeGreaterThanOrEqual(exit!.ts);
    const summary = await h.close();
    expect(summary.probeStop).toBe('stop-request');
    expect(summary.lostEvents).toBe(0);
    expect(summary.lateEvents).toBe(0);
  });
});
