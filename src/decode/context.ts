import type { EventOf } from '../schema/event.js';
import type { RawRecord } from './raw-record.js';
import { OldestFirst } from '../util/oldest-first.js';
import { ExecArgs } from './exec-args.js';
import { PROBE_STRLEN } from '../util/probe-format.js';

const SAFE_DIGITS = 15;

/** io_uring open paths and completions waiting for each other (far more than are ever in flight). */
const MAX_URING_PENDING = 4096;

function setOpenPath(ev: EventOf<'file.open'>, path: string): void {
  ev.path = path;
  ev.path_truncated = path.length >= PROBE_STRLEN - 1;
}

/**
 * Per-stream decoder state: the time epoch and strings waiting for the
 * record that consumes them (exec argv, rename/link/symlink path pairs).
 */
export class DecodeContext {
  private readonly epochBig: bigint;
  private readonly epochNum: number;
  private readonly pending = new Map<number, string[]>();
  /** Exec arguments, matched to their exec by time. */
  readonly execArgs = new ExecArgs();
  /**
   * io_uring opens, by request: the path (UPATH, printed at submission) and
   * the completion (UOPEN) come from different programs, often on different
   * CPUs (an open runs in an io-wq worker), so either may arrive first. A
   * completion waits here for its path; see ProbeDecoder.
   */
  private readonly uringPaths = new Map<number, string>();
  private readonly uringPathsOrder = new OldestFirst(this.uringPaths);
  private readonly uringOpens = new Map<number, EventOf<'file.open'>>();
  /** Records whose timestamp was before the epoch (clamped to 0). */
  beforeEpoch = 0;

  constructor(monoEpochNs: bigint) {
    this.epochBig = monoEpochNs;
    this.epochNum = Number(monoEpochNs);
  }

  /** ns since the epoch; exact even when the raw value exceeds 2^53. */
  ts(rec: RawRecord): number {
    if (rec.tsRaw === '' && this.epochNum <= Number.MAX_SAFE_INTEGER) {
      const v = rec.n[0]! - this.epochNum;
      if (v >= 0) return v;
    }
    return this.rel(rec.tsRaw || String(rec.n[0]), rec.n[0]!);
  }

  rel(raw: string, asNumber: number): number {
    let v: number;
    if (raw.length <= SAFE_DIGITS && this.epochNum <= Number.MAX_SAFE_INTEGER) v = asNumber - this.epochNum;
    else v = Number(BigInt(raw) - this.epochBig);
    if (v < 0) {
      this.beforeEpoch++;
      return 0;
    }
    return v;
  }

  /** A path of a rename, link or symlink: its PATH2 record (same program, same CPU) comes next. */
  pushString(tid: number, index: number, value: string): void {
    let list = this.pending.get(tid);
    if (index === 0 || list === undefined) {
      list = [];
      this.pending.set(tid, list);
    }
    list[index] = value;
  }

  /** A submitted open's path: the open that waited for it (to emit now), or null (kept for its completion). */
  uringPath(req: number, path: string): EventOf<'file.open'> | null {
    const held = this.uringOpens.get(req);
    if (held !== undefined) {
      this.uringOpens.delete(req);
      setOpenPath(held, path);
      return held;
    }
    this.uringPaths.set(req, path);
    if (this.uringPaths.size > MAX_URING_PENDING) this.uringPathsOrder.evict();
    return null;
  }

  /** A completed open: true when its path was here (emit it now), false when it waits for it. */
  uringOpen(req: number, ev: EventOf<'file.open'>): boolean {
    const path = this.uringPaths.get(req);
    if (path !== undefined) {
      this.uringPaths.delete(req);
      setOpenPath(ev, path);
      return true;
    }
    this.uringOpens.delete(req);
    this.uringOpens.set(req, ev);
    return false;
  }

  /**
   * Opens that waited longer than `maxWaitNs` before `now` (their path was
   * lost with dropped records, or submitted before the probe started): to
   * emit with no path, which names no object. Also the oldest beyond the bound.
   */
  staleUringOpens(now: number, maxWaitNs: number): EventOf<'file.open'>[] {
    const out: EventOf<'file.open'>[] = [];
    for (const [req, ev] of this.uringOpens) {
      if (ev.ts + maxWaitNs > now && this.uringOpens.size <= MAX_URING_PENDING) break;
      this.uringOpens.delete(req);
      out.push(ev);
    }
    return out;
  }

  takeStrings(tid: number): string[] {
    const list = this.pending.get(tid) ?? [];
    this.pending.delete(tid);
    return list;
  }

  forget(tid: number): void {
    this.pending.delete(tid);
  }
}
