import type { ObjectView } from '../schema/event.js';
import type { KernelObject } from './object-table.js';

/** One descriptor: which object, the open file description's flags, and close-on-exec. */
export interface FdEntry {
  /** The object itself, not its id: live while any entry points at it (each entry holds a reference). */
  obj: KernelObject;
  /** Open flags (O_ACCMODE, O_APPEND, ...), undefined when not known (e.g. received before monitoring). */
  flags: number | undefined;
  cloexec: boolean;
  /**
   * Cached view, valid while `viewVersion` equals the object's version.
   * Every entry is made with both fields (see `entry`) and they are reset,
   * never deleted: one hidden class for all entries (a `delete` would turn
   * the entry into a slow dictionary object).
   */
  view: ObjectView | undefined;
  viewVersion: number;
}

const entry = (obj: KernelObject, flags: number | undefined, cloexec: boolean): FdEntry => ({ obj, flags, cloexec, view: undefined, viewVersion: -1 });

/**
 * A process' descriptor table. Threads share one; fork copies it; a clone
 * with CLONE_FILES shares it (`users` counts the sharers).
 */
export class FdTable {
  readonly entries = new Map<number, FdEntry>();
  users = 1;

  get(fd: number): FdEntry | undefined {
    return this.entries.get(fd);
  }

  /** Sets fd to a fresh entry; returns the entry it replaced, if any (the caller unrefs its object). */
  set(fd: number, obj: KernelObject, flags: number | undefined, cloexec: boolean): FdEntry | undefined {
    const old = this.entries.get(fd);
    this.entries.set(fd, entry(obj, flags, cloexec));
    return old;
  }

  delete(fd: number): FdEntry | undefined {
    const old = this.entries.get(fd);
    if (old !== undefined) this.entries.delete(fd);
    return old;
  }

  /** A copy for a forked child: same objects, same flags. */
  clone(): FdTable {
    const t = new FdTable();
    for (const [fd, e] of this.entries) t.entries.set(fd, entry(e.obj, e.flags, e.cloexec));
    return t;
  }

  /** exec: drops every close-on-exec descriptor; returns the dropped entries. */
  dropCloexec(): FdEntry[] {
    const dropped: FdEntry[] = [];
    for (const [fd, e] of this.entries) {
      if (e.cloexec) {
        dropped.push(e);
        this.entries.delete(fd);
      }
    }
    return dropped;
  }
}
