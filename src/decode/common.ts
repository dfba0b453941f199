import type { Family, FileType, ObjId } from '../schema/event.js';

/** Kernel-internal dev_t (MAJOR << 20 | MINOR) and inode to an ObjId; null when the probe had none. */
export function kernelObjId(dev: number, ino: number): ObjId | null {
  if (ino === 0) return null;
  return `${Math.floor(dev / 1048576)}:${dev % 1048576}:${ino}`;
}

/** Userspace st_dev (glibc encoding, as Node's fs.stat returns it) and inode to an ObjId. */
export function statObjId(dev: number | bigint, ino: number | bigint): ObjId {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}:${ino}`;
}

const FAMILIES: Record<number, Family> = { 1: 'unix', 2: 'inet', 10: 'inet6', 16: 'netlink', 17: 'packet', 40: 'vsock' };
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
