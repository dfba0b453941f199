import type { ObjectType, ObjectView, ObjId } from '../schema/event.js';
import type { FdEntry, FdTable } from './fd-table.js';
import { EarlierNames } from './earlier-names.js';
import { ObjectTable, type KernelObject } from './object-table.js';
import { resolvePath } from './paths.js';
import { ProcessTable, type Process } from './process-table.js';
import { OldestFirst } from '../util/oldest-first.js';

export const O_CLOEXEC = 0o2000000;
export const AT_FDCWD = -100;

export interface StateStats {
  events: number;
  /** Events from a process seen for the first time mid-stream (no fork, no snapshot). */
  unknownProcesses: number;
  /** Descriptors learnt from an I/O event's kernel identity because their creation was not seen. */
  healed: number;
  /** Descriptors whose recorded object disagreed with the kernel's identity and were corrected. */
  corrected: number;
  /** fd references that could not be resolved to any object. */
  unresolved: number;
  exitedProcesses: number;
}

export interface TaskName {
  path: string;
  task: string;
}

/**
 * Tables and helpers shared by the per-family handlers: processes, threads,
 * descriptor tables, kernel objects, cgroup names, SCM_RIGHTS in flight.
 */
export class StateCore {
  readonly objects = new ObjectTable();
  readonly procs = new ProcessTable();
  /** Each name a link or rename gave, with the name it had before (files are judged by their first name). */
  readonly earlierNames = new EarlierNames();
  readonly cgroups = new Map<number, TaskName>();
  /** Descriptions of objects sent over SCM_RIGHTS, waiting for the receiver (bounded). */
  readonly inflight = new Map<ObjId, { flags: number | undefined }>();
  readonly inflightOrder = new OldestFirst(this.inflight);
  /** System V shared memory segments by `IPC_NS:SHMID` → the identity the state gave each (bounded, oldest dropped). */
  readonly sysvSegments = new Map<string, ObjId>();
  readonly sysvSegmentsOrder = new OldestFirst(this.sysvSegments);
  readonly stats: StateStats = { events: 0, unknownProcesses: 0, healed: 0, corrected: 0, unresolved: 0, exitedProcesses: 0 };

  /** The task of live process (or thread) `pid`, or undefined when the state does not know it: it is outside the watch. */
  taskOfPid(pid: number): string | undefined {
    const p = this.procs.get(this.procs.pidOfTid.get(pid) ?? pid);
    return p === undefined ? undefined : this.taskOf(p.cgroup);
  }

  taskOf(cgroup: number): string {
    let t = this.cgroups.get(cgroup);
    if (t === undefined) {
      // an unnamed cgroup (a trace without task.cgroup records): name it once
      t = { path: `cgroup-${cgroup}`, task: `cgroup-${cgroup}` };
      this.cgroups.set(cgroup, t);
    }
    return t.task;
  }

  /** Points fd at obj, releasing whatever it pointed at before. */
  install(fds: FdTable, fd: number, obj: KernelObject, flags: number | undefined, cloexec: boolean): void {
    this.objects.ref(obj);
    const old = fds.set(fd, obj, flags, cloexec);
    if (old !== undefined) this.objects.release(old.obj);
  }

  release(fds: FdTable, fd: number): FdEntry | undefined {
    const old = fds.delete(fd);
    if (old !== undefined) this.objects.release(old.obj);
    return old;
  }

  /** A copy of a descriptor table (fork), each object referenced once more. */
  copyFds(fds: FdTable): FdTable {
    const copy = fds.clone();
    for (const e of copy.entries.values()) this.objects.ref(e.obj);
    return copy;
  }

  /** Gives a process its own copy of a table it shares under CLONE_FILES (exec, close_range(UNSHARE)). */
  unshareFds(p: Process): void {
    if (p.fds.users <= 1) return;
    p.fds.users--;
    p.fds = this.copyFds(p.fds);
  }

  releaseAll(fds: FdTable): void {
    for (const fd of [...fds.entries.keys()]) this.release(fds, fd);
  }

  /** The current view of fd, from a cache that is valid until the object changes. */
  viewOf(fds: FdTable, fd: number): ObjectView | undefined {
    const e = fds.get(fd);
    return e === undefined ? undefined : this.entryView(e);
  }

  /** The current view of a descriptor entry (cached until its object changes). */
  private entryView(e: FdEntry): ObjectView {
    const o = e.obj;
    if (e.view === undefined || e.viewVersion !== o.version) {
      e.view = this.objects.view(o, e.flags, e.cloexec);
      e.viewVersion = o.version;
    }
    return e.view;
  }

  /**
   * Resolves fd for an event that carries the kernel's identity of its
   * object (`kobj`): heals a descriptor whose creation was not seen, and
   * corrects one whose recorded object disagrees with the kernel.
   */
  resolveFd(p: Process, fd: number, kobj: ObjId | null, typeHint: ObjectType = 'unknown'): ObjectView | undefined {
    if (fd < 0) return this.objectView(kobj);
    let e = p.fds.get(fd);
    if (kobj !== null && (e === undefined || e.obj.id !== kobj)) {
      if (e === undefined) this.stats.healed++;
      else this.stats.corrected++;
      // another object than recorded: its open flags are not known
      this.install(p.fds, fd, this.objectOf(kobj, typeHint), undefined, e?.cloexec ?? false);
      e = p.fds.get(fd);
    }
    if (e === undefined) {
      this.stats.unresolved++;
      return undefined;
    }
    return this.entryView(e);
  }

  /**
   * The object of kernel identity `kobj` for a descriptor the state did not
   * see made: the live one, else a new one. A file or memfd the state saw
   * closed a moment ago (a descriptor to it passed in a way the probe does
   * not parse, sendmmsg say) is the same file, so it keeps its path; pipe
   * and socket inode numbers are reused too quickly to trust.
   */
  objectOf(kobj: ObjId, typeHint: ObjectType = 'unknown'): KernelObject {
    const was = this.objects.get(kobj) === undefined ? this.objects.recent(kobj) : undefined;
    const file = was !== undefined && (was.type === 'file' || was.type === 'memfd');
    return this.objects.upsert(kobj, file ? { type: was.type, path: was.path, aka: was.aka } : { type: typeHint });
  }

  /**
   * An object named by its kernel identity alone, with no descriptor (an
   * io_uring op, which may use a registered file, perhaps after closing
   * its descriptor): known only if the state has met it (an open, a
   * socket, the /proc snapshot) and it is live or recently closed.
   */
  objectView(kobj: ObjId | null): ObjectView | undefined {
    const o = kobj === null ? undefined : this.objects.recent(kobj);
    if (o === undefined) {
      this.stats.unresolved++;
      return undefined;
    }
    return this.objects.view(o, undefined, false);
  }

  /** Base directory for a *at() syscall: the cwd for AT_FDCWD, else the dirfd's path. */
  baseDir(p: Process, dirfd: number): string | undefined {
    if (dirfd === AT_FDCWD) return p.cwd;
    const e = p.fds.get(dirfd);
    return e?.obj.path;
  }

  absPath(p: Process, dirfd: number, path: string): string | undefined {
    return resolvePath(this.baseDir(p, dirfd), path);
  }
}
