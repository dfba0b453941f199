import type { ProcView } from '../schema/event.js';
import { FdTable } from './fd-table.js';

export interface Process {
  pid: number;
  ppid: number;
  comm: string;
  exe?: string;
  argv?: string[];
  cwd?: string;
  cgroup: number;
  /** The process tree it belongs to within its task: the pid of its topmost ancestor in the same cgroup. */
  tree: number;
  fds: FdTable;
  threads: Set<number>;
  /** Cached `proc` view for events (rebuilt when a field it shows changes). */
  view?: ProcView;
}

/**
 * Processes by tgid and threads by tid. Exited processes are evicted when
 * their last thread exits (group_dead), so the table holds live processes
 * only.
 */
export class ProcessTable {
  readonly byPid = new Map<number, Process>();
  readonly pidOfTid = new Map<number, number>();

  get size(): number {
    return this.byPid.size;
  }

  get(pid: number): Process | undefined {
    return this.byPid.get(pid);
  }

  create(pid: number, ppid: number, comm: string, cgroup: number, fds: FdTable = new FdTable()): Process {
    // a process joins its parent's tree when the parent is known and in the same task (cgroup)
    const parent = this.byPid.get(ppid);
    const tree = parent !== undefined && parent.cgroup === cgroup ? parent.tree : pid;
    // every field from the start (undefined until known): one hidden class for all processes
    const p: Process = { pid, ppid, comm, exe: undefined, argv: undefined, cwd: undefined, cgroup, tree, fds, threads: new Set([pid]), view: undefined };
    this.byPid.set(pid, p);
    this.pidOfTid.set(pid, pid);
    return p;
  }

  addThread(p: Process, tid: number): void {
    p.threads.add(tid);
    this.pidOfTid.set(tid, p.pid);
  }

  removeThread(p: Process, tid: number): void {
    p.threads.delete(tid);
    if (this.pidOfTid.get(tid) === p.pid) this.pidOfTid.delete(tid);
  }

  remove(p: Process): void {
    for (const tid of p.threads) if (this.pidOfTid.get(tid) === p.pid) this.pidOfTid.delete(tid);
    this.pidOfTid.delete(p.pid);
    this.byPid.delete(p.pid);
  }
}
