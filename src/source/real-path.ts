import { readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import type { Event } from '../schema/event.js';

const AT_FDCWD = -100;

/**
 * The file an open reached, with symlinks and `..` resolved, asked of the
 * live system right after the open: a relative path through the process'
 * cwd (`/proc/PID/cwd`) or its dirfd (`/proc/PID/fd/N`), so
 * `ln -s /etc/shadow /tmp/x; cat /tmp/x` is a read of /etc/shadow.
 * Undefined when it cannot be resolved any more (the process or the file is
 * gone) or when it is what was asked for.
 */
export function realPathOfOpen(pid: number, dirfd: number, path: string): string | undefined {
  const base = path.startsWith('/') ? path : dirfd === AT_FDCWD ? `/proc/${pid}/cwd/${path}` : `/proc/${pid}/fd/${dirfd}/${path}`;
  const real = realPath(base);
  if (real === undefined) return undefined;
  return path.startsWith('/') && real === posix.normalize(path) ? undefined : real;
}

function realPath(p: string): string | undefined {
  try {
    return realpathSync.native(p);
  } catch {
    return undefined;
  }
}

function cwdOfLive(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

const MAX_KNOWN_CWDS = 65_536;

/**
 * Sets `real_path` on successful opens (see realPathOfOpen). Records reach
 * us a little after the syscall (batched delivery), and a short-lived
 * process (`cd DIR; curl -T notes …`) may be gone by then, taking
 * /proc/PID/cwd with it. So the working directory of each process is also
 * followed here, from the events themselves (inherited at fork, changed by
 * chdir, read from /proc while the process is there), and a relative path
 * whose process is gone resolves through it.
 */
export class OpenPathResolver {
  private readonly cwds = new Map<number, string>();

  /** Call with every decoded event, in order; sets `real_path` on opens it can resolve. */
  observe(e: Event): void {
    switch (e.kind) {
      case 'file.open':
        if (e.ret >= 0 && !e.path_truncated) {
          // an absolute path needs no process: only a relative one is worth a second try once /proc has lost it
          const relative = !e.path.startsWith('/') && e.dirfd === AT_FDCWD;
          const real = realPathOfOpen(e.pid, e.dirfd, e.path) ?? (relative ? this.fromEvents(e.pid, e.path) : undefined);
          if (real !== undefined) e.real_path = real;
        }
        return;
      case 'process.fork':
        if (!e.thread) {
          const cwd = this.cwdOf(e.pid);
          if (cwd !== undefined) this.remember(e.child_tid, cwd);
        }
        return;
      case 'process.chdir':
        if (e.ret === 0) {
          const now = cwdOfLive(e.pid) ?? (e.path === undefined ? undefined : this.fromEvents(e.pid, e.path));
          if (now !== undefined) this.remember(e.pid, now);
          else this.cwds.delete(e.pid);
        }
        return;
      case 'process.exit':
        if (e.group_dead) this.cwds.delete(e.pid);
        return;
      default:
    }
  }

  private cwdOf(pid: number): string | undefined {
    const known = this.cwds.get(pid);
    if (known !== undefined) return known;
    const live = cwdOfLive(pid);
    if (live !== undefined) this.remember(pid, live);
    return live;
  }

  /** A path resolved as the process would, through the working directory followed from its events (not /proc). */
  private fromEvents(pid: number, path: string): string | undefined {
    if (path.startsWith('/')) return realPath(path);
    const cwd = this.cwds.get(pid);
    return cwd === undefined ? undefined : realPath(posix.join(cwd, path));
  }

  private remember(pid: number, cwd: string): void {
    this.cwds.delete(pid);
    this.cwds.set(pid, cwd);
    // bounded: exits can be lost with kernel events; the oldest entries go first
    if (this.cwds.size > MAX_KNOWN_CWDS) this.cwds.delete(this.cwds.keys().next().value!);
  }
}
