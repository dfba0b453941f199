import { afterAll, expect, it } from 'vitest';
import { LiveHarness, ofKind } from '../testing/live-harness.js';

/**
 * Loss is never silent: with a one-page perf ring per CPU and a flood of
 * distinct (not coalescible) records, the kernel drops events; bpftrace's
 * lost-event reports must surface as `loss` events and in the summary.
 */
let h: LiveHarness | undefined;

afterAll(async () => {
  if (h && !h.summary) await h.close();
  h?.cleanup();
}, 120_000);

it('an overloaded run reports lost events', async () => {
  h = new LiveHarness('loss', { ringPages: 1 });
  await h.start();
  const r = await h.run(
    'flood',
    `python3 -c '
import os
for i in range(200000):
    os.close(os.open("/dev/null", os.O_RDONLY))
'`,
    {},
    // the flood may take the script's own exit event with it: close() below waits for delivery instead
    { waitForExitEvent: false },
  );
  expect(r.code).toBe(0);
  const summary = await h.close();
  const losses = ofKind(h.events, 'loss');
  expect(losses.length).toBeGreaterThan(0);
  expect(losses.every((l) => l.events > 0 && l.source === 'kernel')).toBe(true);
  const total = losses.reduce((n, l) => n + l.events, 0);
  expect(summary.lostEvents).toBe(total);
  expect(summary.lossReports).toBe(losses.length);
  // what did arrive is still whole: no malformed lines
  expect(summary.malformedLines).toBe(0);
});
