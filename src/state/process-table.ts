import type { ProcView } from '../schema/event.js';
import { FdTable } from './fd-table.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * A process as its descendants name it: pid, name, executable and command
 * line as they were when it forked them (or when it exited), and its own
 * ancestors, nearest first. Immutable and shared, so an ancestor that has
 * exited still names itself in its descendants' findings; at most
 * MAX_LINEAGE processes long (one lineage per process, none per event).
 */
export interface Lineage {
  readonly pid: number;
  readonly comm: string;
  readonly exe: string | undefined;
  readonly argv: readonly string[] | undefined;
  /** The probe cut the command line (too many or too long arguments). */
  readonly argvTruncated: boolean;
  readonly parent: Lineage | undefined;
  /** Processes in this lineage, itself included. */
  readonly length: number;
}

/** How many processes a lineage holds (the process and 7 ancestors). */
export const MAX_LINEAGE = 8;

/** Exited processes whose lineage stays known for findings made after they exited (a rule's window ending later). */
const RECENTLY_EXITED = 1024;

export interface Process {
  pid: number;
  ppid: number;
  comm: string;
  exe?: string;
  argv?: string[];
  argvTruncated: boolean;
  /** The parent's lineage when it forked this process (undefined for a process not seen forking: it is looked up by ppid). */
  parent: Lineage | undefined;
  /** This process' own lineage, cached until its name, executable or command line changes. */
  lineage: Lineage | undefined;
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
  /** Lineages of the last RECENTLY_EXITED processes to exit, oldest first. */
  private readonly exited = new Map<number, Lineage>();
  private readonly exitedOrder = new OldestFirst(this.exited);

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
    const p: Process = {
      pid, ppid, comm, exe: undefined, argv: undefined, argvTruncated: false, parent: undefined, lineage: undefined,
      cwd: undefined, cgroup, tree, fds, threads: new Set([pid]), view: undefined,
    };
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
    this.exited.delete(p.pid);
    this.exited.set(p.pid, this.lineageOf(p));
    if (this.exited.size > RECENTLY_EXITED) this.exitedOrder.evict();
  }

  /** The lineage of a running process, or of one among the last to exit. */
  lineage(pid: number): Lineage | undefined {
    const p = this.byPid.get(pid);
    return p === undefined ? this.exited.get(pid) : this.lineageOf(p);
  }

  /** `depth`: how many descendants asked before it (a parent looked up by ppid; bounds a ppid cycle in a crafted trace). */
  lineageOf(p: Process, depth = 0): Lineage {
    const l = p.lineage;
    if (l !== undefined && l.comm === p.comm && l.exe === p.exe && l.argv === p.argv && l.argvTruncated === p.argvTruncated) return l;
    // a process known before its parent (the /proc snapshot) finds that parent by ppid when first asked
    const live = p.parent === undefined && p.ppid !== p.pid && depth < MAX_LINEAGE - 1 ? this.byPid.get(p.ppid) : undefined;
    const parent = capped(p.parent ?? (live === undefined ? undefined : this.lineageOf(live, depth + 1)), MAX_LINEAGE - 1);
    const node = { pid: p.pid, comm: p.comm, exe: p.exe, argv: p.argv, argvTruncated: p.argvTruncated, parent, length: 1 + (parent?.length ?? 0) };
    // cached only when the parent was fixed at fork: a parent looked up by ppid may itself become known later
    if (p.parent !== undefined || p.ppid === p.pid) p.lineage = node;
    return node;
  }
}

/** `l` cut to `n` processes (copied only when longer). */
function capped(l: Lineage | undefined, n: number): Lineage | undefined {
  if (l === undefined || l.length <= n) return l;
  if (n === 0) return undefined;
  const parent = capped(l.parent, n - 1);
  return { ...l, parent, length: 1 + (parent?.length ?? 0) };
}
