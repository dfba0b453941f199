import { from, lastValueFrom, toArray } from 'rxjs';
import { expect, it } from 'vitest';
import type { Event } from '../../schema/event.js';
import { ev } from '../../testing/events.js';
import { nameTasks } from './name-tasks.js';

it('names each cgroup once, just before its first event; loss and task.cgroup events pass as they are', async () => {
  const a = { ...ev.close(10, 3), cgroup: 7 };
  const b = { ...ev.close(11, 3), cgroup: 8 };
  const loss: Event = { kind: 'loss', ts: 5, cgroup: 0, pid: 0, tid: 0, events: 3, source: 'kernel' };
  const given: Event = { kind: 'task.cgroup', ts: 6, cgroup: 9, pid: 0, tid: 0, path: '/given', task: 'given' };
  const input: Event[] = [loss, a, b, { ...a, ts: a.ts + 10 }, given, { ...b, ts: b.ts + 10 }];
  const out = await lastValueFrom(from(input).pipe(nameTasks((id) => ({ path: `/cg${id}`, task: `t${id}` })), toArray()));
  expect(out.map((e) => (e.kind === 'task.cgroup' ? `name ${e.cgroup} ${e.task} @${e.ts}` : `${e.kind} ${e.cgroup}`))).toEqual([
    'loss 0',
    `name 7 t7 @${a.ts}`,
    'fd.close 7',
    `name 8 t8 @${b.ts}`,
    'fd.close 8',
    'fd.close 7',
    'name 9 given @6',
    'fd.close 8',
  ]);
});
