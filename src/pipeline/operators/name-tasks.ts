import { Observable, type OperatorFunction } from 'rxjs';
import type { Event } from '../../schema/event.js';

export type TaskNamer = (cgroupId: number) => { path: string; task: string };

/**
 * Before the first event of each cgroup id, inserts a `task.cgroup` event
 * naming it, so traces carry their own task names and replay needs no
 * access to the recording host's cgroup tree. A `task.cgroup_gone` (the
 * cgroup was removed) leaves with the names it was given and the cgroup
 * is forgotten here and by `forget` (the namer's own memory); one for a
 * cgroup never named (nothing watched ran in it) is dropped.
 */
export function nameTasks(namer: TaskNamer, forget?: (cgroupId: number) => void): OperatorFunction<Event, Event> {
  const named = new Map<number, { path: string; task: string }>();
  // a plain operator, not mergeMap: an inner subscription per event cost an eighth of the live pipeline's time
  return (source) =>
    new Observable<Event>((sub) =>
      source.subscribe({
        next(ev) {
          if (ev.kind === 'task.cgroup_gone') {
            const n = named.get(ev.cgroup);
            forget?.(ev.cgroup);
            if (n === undefined) return;
            named.delete(ev.cgroup);
            ev.path = n.path;
            ev.task = n.task;
          } else if (ev.kind !== 'task.cgroup' && ev.kind !== 'loss' && !named.has(ev.cgroup)) {
            const n = namer(ev.cgroup);
            named.set(ev.cgroup, n);
            sub.next({ kind: 'task.cgroup', ts: ev.ts, cgroup: ev.cgroup, pid: 0, tid: 0, path: n.path, task: n.task });
          }
          sub.next(ev);
        },
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      }),
    );
}
