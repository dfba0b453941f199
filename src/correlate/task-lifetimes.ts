import type { Event } from '../schema/event.js';

/**
 * When a task ends: a task is named for one or more cgroups (`task.cgroup`:
 * a sandbox and the cgroups nested in it, or every cgroup of a watched
 * subtree), and it ends when the last of them is removed
 * (`task.cgroup_gone`; a cgroup with processes in it cannot be removed).
 * Per-task memory of the later stages (behaviour features, baseline
 * reports, rate windows, intents) is released then, so an always-on watch
 * of a host that runs thousands of short-lived sandboxes does not keep
 * every one it ever saw.
 */
export class TaskLifetimes {
  private readonly taskOf = new Map<number, string>();
  private readonly liveCgroups = new Map<string, number>();

  /** The task this event ended, if it did. */
  observe(ev: Event): string | undefined {
    if (ev.kind === 'task.cgroup') {
      const before = this.taskOf.get(ev.cgroup);
      if (before === ev.task) return undefined;
      const ended = before === undefined ? undefined : this.release(before);
      this.taskOf.set(ev.cgroup, ev.task);
      this.liveCgroups.set(ev.task, (this.liveCgroups.get(ev.task) ?? 0) + 1);
      return ended;
    }
    if (ev.kind !== 'task.cgroup_gone') return undefined;
    const task = this.taskOf.get(ev.cgroup);
    if (task === undefined) return undefined;
    this.taskOf.delete(ev.cgroup);
    return this.release(task);
  }

  /** Tasks with at least one cgroup not removed. */
  get live(): number {
    return this.liveCgroups.size;
  }

  private release(task: string): string | undefined {
    const n = (this.liveCgroups.get(task) ?? 1) - 1;
    if (n > 0) {
      this.liveCgroups.set(task, n);
      return undefined;
    }
    this.liveCgroups.delete(task);
    return task;
  }
}
