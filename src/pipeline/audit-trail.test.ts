import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Event } from '../schema/event.js';
import { testHeader } from '../testing/fixtures.js';
import { AuditTrail } from './audit-trail.js';

const header = testHeader({ mode: 'host' });

const ev = (task: string): Event => ({ ts: 1, cgroup: 1, pid: 10, tid: 10, kind: 'process.exit', code: 0, group_dead: true, proc: { ppid: 1, comm: 'x', task, tree: 10 } }) as Event;

function records(dir: string): { type: string; [k: string]: unknown }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string }));
}

describe('audit trail heartbeats', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('count each task since the previous heartbeat, so a task seen once is not repeated in every later one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-trail-'));
    const trail = new AuditTrail({ dir, heartbeatMs: 10_000 }, header, undefined);
    trail.event(ev('sbx-a'));
    trail.event(ev('sbx-a'));
    trail.event(ev('sbx-b'));
    vi.advanceTimersByTime(10_000);
    trail.event(ev('sbx-c'));
    vi.advanceTimersByTime(10_000);
    vi.advanceTimersByTime(10_000);
    trail.close({ reason: 'test' });
    const beats = records(dir).filter((r) => r.type === 'heartbeat');
    expect(beats.map((b) => b.events_by_task)).toEqual([{ 'sbx-a': 2, 'sbx-b': 1 }, { 'sbx-c': 1 }, {}, {}]);
    // the run's totals still grow across heartbeats
    expect(beats.map((b) => b.events)).toEqual([3, 4, 4, 4]);
  });
});
