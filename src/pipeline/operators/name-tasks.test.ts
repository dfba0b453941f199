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

it('a removed cgroup leaves named as it was named, and is forgotten (the namer too); one never named is dropped; the id named again if it comes back', async () => {
  const a = { ...ev.close(10, 3), cgroup: 7 };
  const gone = (cgroup: number, ts: number): Event => ({ kind: 'task.cgroup_gone', ts, cgroup, pid: 0, tid: 0, path: '', task: '' });
  const forgotten: number[] = [];
  let calls = 0;
  const namer = (id: number): { path: string; task: string } => ({ path: `/cg${id}`, task: `t${id}-${++calls}` });
  const input: Event[] = [a, gone(7, 20), gone(8, 21), { ...a, ts: 30 }];
  const out = await lastValueFrom(from(input).pipe(nameTasks(namer, (id) => forgotten.push(id)), toArray()));
  expect(out.map((e) => (e.kind === 'task.cgroup' || e.kind === 'task.cgroup_gone' ? `${e.kind} ${e.cgroup} ${e.path} ${e.task}` : `${e.kind} ${e.cgroup}`))).toEqual([
    'task.cgroup 7 /cg7 t7-1',
    'fd.close 7',
    'task.cgroup_gone 7 /cg7 t7-1',
    'task.cgroup 7 /cg7 t7-2',
    'fd.close 7',
  ]);
  expect(forgotten).toEqual([7, 8]);
});
