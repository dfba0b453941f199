import type { EventOf, Family, FileType } from '../schema/event.js';
import { syscallName } from '../util/syscalls.js';
import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';
export { kernelObjId, statObjId } from '../util/obj-id.js';

/** AF_* numbers (include/linux/socket.h) of the families named in the canonical model. */
const FAMILIES: Record<number, Family> = {
  1: 'unix', 2: 'inet', 10: 'inet6', 16: 'netlink', 17: 'packet', 21: 'rds', 29: 'can', 30: 'tipc', 31: 'bluetooth', 38: 'alg', 40: 'vsock', 44: 'xdp',
};
export function familyName(n: number): Family {
  return FAMILIES[n] ?? 'other';
}

const S_IFMT = 0o170000;
const FILE_TYPES: Record<number, FileType> = {
  0o140000: 'sock', 0o120000: 'link', 0o100000: 'file', 0o060000: 'blk', 0o040000: 'dir', 0o020000: 'chr', 0o010000: 'fifo',
};
export function fileTypeOf(imode: number): FileType {
  return FILE_TYPES[imode & S_IFMT] ?? 'unknown';
}

/** The probes print some C ints through 64-bit formats; fold them back to signed 32-bit. */
export function int32(n: number): number {
  return n > 0x7fffffff && n <= 0xffffffff ? n - 0x100000000 : n;
}

/**
 * A record of `ts cgroup pid tid nr` that stands for what the probe saw a
 * call do but could not follow: a lost event named `SYSCALL.WHAT`, never
 * silent. MCTL (`control`): descriptors passed by sendmmsg/recvmmsg, not
 * parsed by the probe. NOARGS (`args`): a read or write that moved data
 * whose descriptor the probe could not find in the registers saved at the
 * syscall's entry (a kernel whose stack layout it does not know).
 */
export function lostCall(what: string): (rec: RawRecord, ctx: DecodeContext) => EventOf<'loss'> {
  return (rec, ctx) => {
    const n = rec.n;
    return { ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!, kind: 'loss', events: 1, source: `${syscallName(n[4]!)}.${what}` };
  };
}
