import { OldestFirst } from '../util/oldest-first.js';
import { PROBE_STRLEN } from '../util/probe-format.js';

/** Argument strings kept at most (a thread that execs and never does again keeps its last run until evicted). */
const MAX_KEPT = 65_536;
/** Threads remembered at most (each with the time of its last released exec). */
const MAX_THREADS = 16_384;

interface Arg {
  ts: number;
  /** argv index; -1: more arguments than the probe reads */
  index: number;
  value: string;
}

export interface ExecArgv {
  argv: string[];
  argv_truncated: boolean;
}

/**
 * Exec arguments (the probe's A records), matched to their exec by time.
 *
 * The probe prints a process' arguments when it enters execve and the exec
 * record once the exec has happened, and execve moves the task to another
 * CPU in between (sched_exec). bpftrace reads one output buffer per CPU, so
 * a whole stretch of one CPU's records (arguments of several execs, across
 * several processes) can arrive after the other's, measured here with two
 * sessions busy: matching arguments to execs in arrival order gave one exec
 * the next one's arguments. An exec's arguments are those stamped before it
 * and after the thread's previous exec: the last run (from its index 0) in
 * that window, since a failed execve (a shell's PATH search) prints its own
 * run first.
 *
 * `argvAt` answers with what has arrived when the exec record is decoded;
 * `complete` answers again, for good, when the reorder stage releases the
 * exec event (by then every record stamped before it has arrived: the
 * delivery proof) and forgets what came before it.
 */
export class ExecArgs {
  private readonly byTid = new Map<number, { args: Arg[]; released: number }>();
  private readonly order = new OldestFirst(this.byTid);
  private kept = 0;
  /** Strings that arrived after the exec they belong to was released (the reorder stage gave up waiting): counted, not used. */
  late = 0;

  add(tid: number, index: number, value: string, ts: number): void {
    const t = this.thread(tid);
    if (ts < t.released) {
      this.late++;
      return;
    }
    const list = t.args;
    // arrivals are nearly in time order: insert from the end
    let at = list.length;
    while (at > 0 && list[at - 1]!.ts > ts) at--;
    list.splice(at, 0, { ts, index, value });
    this.kept++;
    while (this.kept > MAX_KEPT && this.byTid.size > 0) this.evictOldest();
  }

  /** What is kept of thread `tid` (made, within the bound, on its first string or exec). */
  private thread(tid: number): { args: Arg[]; released: number } {
    let t = this.byTid.get(tid);
    if (t === undefined) {
      t = { args: [], released: -1 };
      this.byTid.set(tid, t);
      if (this.byTid.size > MAX_THREADS) this.evictOldest();
    }
    return t;
  }

  private evictOldest(): void {
    const gone = this.order.evict();
    if (gone !== undefined) this.kept -= gone[1].args.length;
  }

  /** The arguments of `tid`'s exec at `ts`, from what has arrived. */
  argvAt(tid: number, ts: number): ExecArgv {
    return runBefore(this.byTid.get(tid)?.args, ts);
  }

  /**
   * The exec event at its release: its arguments (set in place) now that
   * everything stamped before it has arrived, and the thread's strings up to
   * it forgotten; a string stamped before it that still comes is late.
   */
  complete(tid: number, ts: number, ev: ExecArgv): void {
    const t = this.thread(tid);
    const list = t.args;
    const r = runBefore(list, ts);
    ev.argv = r.argv;
    ev.argv_truncated = r.argv_truncated;
    let n = 0;
    while (n < list.length && list[n]!.ts < ts) n++;
    list.splice(0, n);
    this.kept -= n;
    t.released = ts;
  }
}

/** The last run of arguments (from its index 0) stamped before `ts`. */
function runBefore(list: Arg[] | undefined, ts: number): ExecArgv {
  const argv: string[] = [];
  let truncated = false;
  if (list === undefined) return { argv, argv_truncated: truncated };
  let end = 0;
  while (end < list.length && list[end]!.ts < ts) end++;
  let start = end - 1;
  while (start > 0 && list[start]!.index !== 0) start--;
  for (let i = Math.max(start, 0); i < end; i++) {
    const a = list[i]!;
    if (a.index < 0) {
      truncated = true;
      continue;
    }
    // holes (an argument the probe could not read) become empty strings
    while (argv.length < a.index) argv.push('');
    argv[a.index] = a.value;
    if (a.value.length >= PROBE_STRLEN - 1) truncated = true;
  }
  return { argv, argv_truncated: truncated };
}
