import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCorrelation } from '../pipeline/correlation.js';
import { loadPolicy } from '../rules/policy-file.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import { SUMMARIZE_BASELINE } from '../testing/fixtures.js';
import { TestWorld } from '../testing/world.js';
import { TaskLifetimes } from './task-lifetimes.js';

const named = (cgroup: number, task: string): Event => ({ kind: 'task.cgroup', ts: 1, cgroup, pid: 0, tid: 0, path: `/${task}/${cgroup}`, task });
const gone = (cgroup: number): Event => ({ kind: 'task.cgroup_gone', ts: 1, cgroup, pid: 0, tid: 0, path: '', task: '' });

describe('task lifetimes', () => {
  it('a task ends exactly when the last cgroup named for it is removed (reference model)', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('name' as const), cgroup: fc.integer({ min: 1, max: 8 }), task: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ t: fc.constant('gone' as const), cgroup: fc.integer({ min: 1, max: 8 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const lt = new TaskLifetimes();
        const model = new Map<number, string>();
        for (const o of ops) {
          const before = new Set(model.values());
          if (o.t === 'name') model.set(o.cgroup, o.task);
          else model.delete(o.cgroup);
          const after = new Set(model.values());
          const endedInModel = [...before].filter((t) => !after.has(t));
          const ended = lt.observe(o.t === 'name' ? named(o.cgroup, o.task) : gone(o.cgroup));
          expect(ended === undefined ? [] : [ended]).toEqual(endedInModel);
          expect(lt.live).toBe(after.size);
        }
      }),
    );
  });
});


describe('per-task memory of the correlation stages', () => {
  it('is released when a sandbox ends; its last samples are scored at that moment, and a later run of the same name is scored afresh', () => {
    const found: Finding[] = [];
    const c = buildCorrelation({ host: 'h', wallEpochNs: 0n, policy: loadPolicy(join(import.meta.dirname, '../../rules/policy.yaml')), baselines: [SUMMARIZE_BASELINE], scoring: { slack: 0, minSamples: 5, transitions: false }, onFinding: (f) => found.push(f) });
    const w = new TestWorld(c.correlator);
    const run = (task: string, pid: number): Finding[] => {
      w.proc(task, pid, 'summarizer');
      w.open(task, pid, 3, `/home/user/doc-${pid}.txt`);
      w.io(task, pid, 'in', 3, 100);
      w.socket(task, pid, 4, '127.0.0.2', 8443);
      w.io(task, pid, 'out', 4, 5000);
      w.exit(task, pid);
      expect(c.correlator.tasksKept).toEqual({ live: 1, intents: 1, behaviour: 1, rates: 1 });
      const mark = w.out.length;
      w.gone(task);
      return w.out.slice(mark);
    };
    for (let i = 0; i < 300; i++) {
      const atEnd = run(`/sandboxes/summarize-${i}`, 1000 + i);
      // the whole-run ratio is final when the sandbox ends, not when the watch stops
      expect(atEnd.map((f) => f.rule)).toEqual(['baseline.bytes_out_per_byte_in']);
      expect(atEnd[0]!.task).toBe(`/sandboxes/summarize-${i}`);
    }
    expect(c.correlator.tasksKept).toEqual({ live: 0, intents: 0, behaviour: 0, rates: 0 });
    // the same sandbox name again is a new run: reported again, not muted by the first run's report
    expect(run('/sandboxes/summarize-0', 5000).map((f) => f.rule)).toEqual(['baseline.bytes_out_per_byte_in']);
    expect(c.correlator.flush().filter((f) => f.category === 'baseline')).toEqual([]);
  });

  it('a task named for several cgroups lives until the last of them is removed', () => {
    const c = buildCorrelation({ host: 'h', wallEpochNs: 0n, policy: loadPolicy(join(import.meta.dirname, '../../rules/policy.yaml')), onFinding: () => undefined });
    const cor = c.correlator;
    const ev = (e: Event): void => void cor.observe(e);
    ev(named(1, 'sbx'));
    ev(named(2, 'sbx'));
    ev({ kind: 'process.seen', ts: 2, cgroup: 2, pid: 7, tid: 7, ppid: 1, comm: 'x', proc: { ppid: 1, comm: 'x', task: 'sbx', tree: 7 } } as Event);
    ev(gone(1));
    expect(cor.tasksKept.live).toBe(1);
    ev(gone(2));
    expect(cor.tasksKept.live).toBe(0);
  });
});
