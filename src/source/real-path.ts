import { realpathSync } from 'node:fs';
import { posix } from 'node:path';

/**
 * The file an open reached, with symlinks and `..` resolved, asked of the
 * live system right after the open: a relative path through the process'
 * cwd (`/proc/PID/cwd`) or its dirfd (`/proc/PID/fd/N`), so
 * `ln -s /etc/shadow /tmp/x; cat /tmp/x` is a read of /etc/shadow.
 * Undefined when it cannot be resolved any more (the process or the file is
 * gone) or when it is what was asked for.
 */
export function realPathOfOpen(pid: number, dirfd: number, path: string): string | undefined {
  const base = path.startsWith('/') ? path : dirfd === -100 ? `/proc/${pid}/cwd/${path}` : `/proc/${pid}/fd/${dirfd}/${path}`;
  let real: string;
  try {
    real = realpathSync.native(base);
  } catch {
    return undefined;
  }
  return path.startsWith('/') && real === posix.normalize(path) ? undefined : real;
}
