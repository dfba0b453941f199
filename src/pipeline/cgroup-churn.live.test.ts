import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LiveHarness } from '../testing/live-harness.js';

/**
 * Always-on monitoring of sandboxes that come and go: the probe keeps the
 * watched cgroups in a BPF map of bounded size (BPFTRACE_MAP_KEYS_MAX). A
 * sandbox removed must leave it, or after that many sandboxes the map is
 * full and every later sandbox is silently unwatched. Here the maps hold
 * 128 keys and 300 sandboxes come and go before the one that is checked.
 * A sandbox removed is also an event (task.cgroup_gone), after which
 * chainwatch forgets what it kept about it.
 */

let h: LiveHarness | undefined;

afterAll(() => h?.cleanup());

describe('live: sandboxes that come and go', () => {
  it('after 300 sandboxes made and removed (maps of 128 keys), a new sandbox is still watched', async () => {
    h = new LiveHarness('churn', { mapKeysMax: 128 });
    await h.start();
    for (let i = 0; i < 300; i++) {
      const dir = join(h.cgRoot, h.root, `gone-${i}`);
      mkdirSync(dir);
      rmdirSync(dir);
    }
    const r = await h.run('after-churn', 'cat /etc/hostname > /dev/null');
    expect(r.code).toBe(0);
    expect(r.events.some((e) => e.kind === 'file.open' && e.path === '/etc/hostname')).toBe(true);
    // that sandbox removed in turn: the pipeline says so, named as it was, after every event of it, and forgets it
    rmdirSync(join(h.cgRoot, h.root, 'after-churn'));
    const gone = await h.waitFor((e) => e.kind === 'task.cgroup_gone' && e.cgroup === r.cgroup, 10_000);
    const named = h.events.find((e) => e.kind === 'task.cgroup' && e.cgroup === r.cgroup);
    expect(gone).toMatchObject({ path: (named as { path: string }).path, task: (named as { task: string }).task });
    expect(Math.max(...r.events.filter((e) => e.kind !== 'task.cgroup_gone').map((e) => e.ts))).toBeLessThan(gone.ts);
    // the 300 removed before anything ran in them were never named: no event for them
    expect(h.events.filter((e) => e.kind === 'task.cgroup_gone')).toHaveLength(1);
    const summary = await h.close();
    expect(summary.lostEvents).toBe(0);
  }, 120_000);
});
