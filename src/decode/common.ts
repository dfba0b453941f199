import type { Family, FileType } from '../schema/event.js';
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
