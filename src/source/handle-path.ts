import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { objIdAt } from '../util/obj-id.js';
import { packageDir } from '../util/package-dir.js';

/** The file handle an open_by_handle_at(2) passed, as the probe read it (file.open's `handle`). */
export interface FileHandle {
  type: number;
  bytes: number;
  hex: string;
}

/** The built handle-path helper (probes/handle-path.c), if the build had a C compiler. */
export function handlePathHelper(): string | undefined {
  const dist = packageDir('dist', 'handle-path');
  return dist === undefined ? undefined : join(dist, 'handle-path');
}

/** A mount table read at most this often (mounts come and go, handle opens are rare). */
const MOUNTS_TTL_MS = 5_000;
let mounts: { at: number; byDev: Map<string, string> } | undefined;

/** /proc/self/mountinfo's octal escapes (`\040` for a space) undone. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** A directory where filesystem `MAJOR:MINOR` is mounted (its root preferred), or undefined. */
function mountOf(dev: string): string | undefined {
  const now = Date.now();
  if (mounts === undefined || now - mounts.at > MOUNTS_TTL_MS) {
    const byDev = new Map<string, string>();
    try {
      for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
        const f = line.split(' ');
        if (f.length < 5) continue;
        // the mount of the filesystem's own root first: any mount of it opens the handle, this one names the file wholly
        if (f[3] === '/' || !byDev.has(f[2]!)) byDev.set(f[2]!, unescape(f[4]!));
      }
    } catch {
      // no /proc: nothing named
    }
    mounts = { at: now, byDev };
  }
  return mounts.byDev.get(dev);
}

/**
 * The path of the file a handle names, found by opening the handle on its
 * filesystem (probes/handle-path.c, O_PATH: the file is not read) and kept
 * only if it is object `obj` (`MAJOR:MINOR:INODE`, what the kernel gave the
 * process): a handle changed in the process' memory after the call names
 * another file, which is not taken. Undefined when it cannot be named (the
 * helper not built, a handle longer than the probe reads, the file gone).
 */
export function pathOfHandle(obj: string, handle: FileHandle, helper = handlePathHelper()): string | undefined {
  if (helper === undefined || handle.hex.length !== handle.bytes * 2 || handle.bytes === 0) return undefined;
  const dev = obj.slice(0, obj.lastIndexOf(':'));
  const mount = mountOf(dev);
  if (mount === undefined) return undefined;
  let path: string;
  try {
    path = execFileSync(helper, [mount, String(handle.type), handle.hex], { timeout: 2_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  } catch {
    return undefined;
  }
  return path.startsWith('/') && !path.endsWith(' (deleted)') && objIdAt(path) === obj ? path : undefined;
}
