import type { ObjId } from '../schema/event.js';

/** Object identity `MAJOR:MINOR:INODE`, from the kernel's dev_t encoding or from stat(2)'s. */
/** Kernel-internal dev_t (MAJOR << 20 | MINOR) and inode to an ObjId; null when the probe had none. */
const devPrefix = new Map<number, string>();

export function kernelObjId(dev: number, ino: number): ObjId | null {
  if (ino === 0) return null;
  let prefix = devPrefix.get(dev);
  if (prefix === undefined) {
    prefix = `${Math.floor(dev / 1048576)}:${dev % 1048576}:`;
    if (devPrefix.size < 4096) devPrefix.set(dev, prefix);
  }
  return prefix + ino;
}

/** Userspace st_dev (glibc encoding, as Node's fs.stat returns it) and inode to an ObjId. */
export function statObjId(dev: number | bigint, ino: number | bigint): ObjId {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}:${ino}`;
}

