import { Observable, type OperatorFunction } from 'rxjs';
import type { Event } from '../../schema/event.js';

export type TaskNamer = (cgroupId: number) => { path: string; task: string };

/**
 * Before the first event of each cgroup id, inserts a `task.cgroup` event
 * naming it, so traces carry their own task names and replay needs no
 * access to the recording host's cgroup tree.
 */
export function nameTasks(namer: TaskNamer): OperatorFunction<Event, Event> {
  const seen = new Set<number>();
  // a plain operator, not mergeMap: an inner subscription per event cost an eighth of the live pipeline's time
  return (source) =>
    new Observable<Event>((sub) =>
      source.subscribe({
        next(ev) {
          if (ev.kind !== 'task.cgroup' && ev.kind !== 'loss' && !seen.has(ev.cgroup)) {
            seen.add(ev.cgroup);
            const n = namer(ev.cgroup);
            sub.next({ kind: 'task.cgroup', ts: ev.ts, cgroup: ev.cgroup, pid: 0, tid: 0, path: n.path, task: n.task });
          }
          sub.next(ev);
        },
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      }),
    );
}
