import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

/** Fields every task record starts with: ts cgroup pid tid. */
export function baseOf(rec: RawRecord, ctx: DecodeContext): { ts: number; cgroup: number; pid: number; tid: number } {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]! };
}
