import { lstatSync, statSync } from 'node:fs';
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

/** Major and minor of a userspace st_dev (glibc encoding, as Node's fs.stat returns it). */
function majorMinor(dev: number | bigint): [bigint, bigint] {
  const d = BigInt(dev);
  return [((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn), (d & 0xffn) | ((d >> 12n) & ~0xffn)];
}

/** Userspace st_dev and inode to an ObjId. */
export function statObjId(dev: number | bigint, ino: number | bigint): ObjId {
  const [major, minor] = majorMinor(dev);
  return `${major}:${minor}:${ino}`;
}

/** Userspace st_dev to the kernel's internal dev_t (MAJOR << 20 | MINOR), as probes read it from i_sb->s_dev. */
export function kernelDevOfStat(dev: number | bigint): bigint {
  const [major, minor] = majorMinor(dev);
  return (major << 20n) | minor;
}

/** The identity of the file at `path` now (its final symlink not followed with `noFollow`); undefined when it cannot be stat'ed. */
export function objIdAt(path: string, noFollow = false): ObjId | undefined {
  try {
    const st = noFollow ? lstatSync(path, { bigint: true }) : statSync(path, { bigint: true });
    return statObjId(st.dev, st.ino);
  } catch {
    return undefined;
  }
}
