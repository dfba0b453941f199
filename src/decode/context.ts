import type { RawRecord } from './raw-record.js';

/** BPFTRACE_STRLEN the probes run with; a string of STRLEN-1 bytes may have been cut. */
export const PROBE_STRLEN = 160;

const SAFE_DIGITS = 15;

/**
 * Per-stream decoder state: the time epoch and strings waiting for the
 * record that consumes them (exec argv, rename/link/symlink path pairs).
 */
export class DecodeContext {
  private readonly epochBig: bigint;
  private readonly epochNum: number;
  private readonly pending = new Map<number, string[]>();
  argvTruncated = new Set<number>();
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

  pushString(tid: number, index: number, value: string): void {
    if (index < 0) {
      this.argvTruncated.add(tid);
      return;
    }
    let list = this.pending.get(tid);
    if (index === 0 || list === undefined) {
      list = [];
      this.pending.set(tid, list);
      this.argvTruncated.delete(tid);
    }
    list[index] = value;
  }

  takeStrings(tid: number): string[] {
    const list = this.pending.get(tid) ?? [];
    this.pending.delete(tid);
    return list;
  }

  forget(tid: number): void {
    this.pending.delete(tid);
    this.argvTruncated.delete(tid);
  }
}
