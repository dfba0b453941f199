import { readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import type { Event } from '../schema/event.js';
import { objIdAt } from '../util/obj-id.js';
import { pathOfHandle } from './handle-path.js';
import { inDir, isOneName } from '../util/path-name.js';
import { OldestFirst } from '../util/oldest-first.js';

const AT_FDCWD = -100;
/** x86-64 / arm64 asm-generic value. */
const O_NOFOLLOW = 0o400000;

/**
 * The file a relative open reached, with symlinks and `..` resolved, asked of
 * the live system right after the open: through the process' cwd
 * (`/proc/PID/cwd`) or its dirfd (`/proc/PID/fd/N`), so
 * `cd /tmp; ln -s /etc/shadow x; cat x` is a read of /etc/shadow.
 * Undefined when it cannot be resolved any more (the process or the file is gone).
 */
/** Where a path relative to `dirfd` starts for process `pid`: its working directory or that directory descriptor, through /proc. */
const procDirOf = (pid: number, dirfd: number): string => (dirfd === AT_FDCWD ? `/proc/${pid}/cwd` : `/proc/${pid}/fd/${dirfd}`);

function realPathOfRelative(pid: number, dirfd: number, path: string, flags: number): string | undefined {
  const dir = procDirOf(pid, dirfd);
  // one name in the working directory, opened without following a final symlink: that name in the
  // directory's real path (one readlink instead of a realpath that walks /proc and every component again)
  if ((flags & O_NOFOLLOW) !== 0 && isOneName(path)) {
    const d = livePathOf(dir);
    return d === undefined ? undefined : inDir(d, path);
  }
  return realPath(`${dir}/${path}`);
}

/**
 * One name under an open directory, opened without following a final symlink
 * (how tar, find, rm -r and every fts walker go through a tree:
 * `openat(dirfd, "name", O_NOFOLLOW)`): the file is that name in the
 * directory, and the state already names the directory by its real path
 * (learnt from the directory's own open, resolved here). So it needs no
 * syscall, and it is named right after the walker has exited.
 */
export function namedByState(dirfd: number, path: string, flags: number): boolean {
  return dirfd !== AT_FDCWD && (flags & O_NOFOLLOW) !== 0 && isOneName(path);
}

function realPath(p: string): string | undefined {
  try {
    return realpathSync.native(p);
  } catch {
    return undefined;
  }
}

/**
 * The path of a file opened with no path at all (open_by_handle_at(2), an
 * io_uring open whose path was not seen), from its descriptor while the
 * process still holds it: only if the descriptor still points at the
 * object the kernel named (not closed and reused since).
 */
function pathOfOpenFd(pid: number, fd: number, obj: string): string | undefined {
  const link = `/proc/${pid}/fd/${fd}`;
  const path = livePathOf(link);
  return path !== undefined && objIdAt(link) === obj ? path : undefined;
}

/**
 * The kernel identity (`MAJOR:MINOR:INODE`) of the file a path names for
 * process `pid` (relative to its working directory or directory descriptor
 * `dirfd`), the final symlink not followed with `noFollow`; undefined when
 * it cannot be found any more.
 */
function identityOf(pid: number, dirfd: number, path: string, noFollow: boolean): string | undefined {
  return objIdAt(path.startsWith('/') ? path : `${procDirOf(pid, dirfd)}/${path}`, noFollow);
}

/** Where a /proc magic link (a cwd, an open directory) points now; undefined if gone or deleted. */
function livePathOf(link: string): string | undefined {
  try {
    const target = readlinkSync(link);
    return target.startsWith('/') && !target.endsWith(' (deleted)') ? target : undefined;
  } catch {
    return undefined;
  }
}

/** Absolute paths remembered with the real path they had, checked against the object each open reached. */
const MAX_KNOWN_PATHS = 32_768;
const MAX_KNOWN_CWDS = 65_536;

/**
 * Sets `real_path` on successful opens (see realPathOfRelative). Records reach
 * us a little after the syscall (batched delivery), and a short-lived
 * process (`cd DIR; curl -T notes …`) may be gone by then, taking
 * /proc/PID/cwd with it. So the working directory of each process is also
 * followed here, from the events themselves (inherited at fork, changed by
 * chdir, read from /proc while the process is there), and a relative path
 * whose process is gone resolves through it.
 */
export class OpenPathResolver {
  private readonly cwds = new Map<number, string>();
  private readonly cwdsOrder = new OldestFirst(this.cwds);
  /**
   * Absolute path → the kernel object an open of it reached and its real path then (null: the path itself).
   * Reused only when an open of the same path reaches the same object (dev:ino from the probe): a swapped
   * symlink or a replaced file is a different object and is resolved again. (The same object reached
   * through a changed symlink is the same bytes, which is what data classes judge; a hard link already
   * gives a file a second name without any symlink.) Repeated opens of the same files (libraries,
   * configuration, a tree read twice) cost a map lookup instead of a realpath.
   */
  private readonly known = new Map<string, { obj: string; real: string | null }>();
  private readonly knownOrder = new OldestFirst(this.known);

  /** Call with every decoded event, in order; sets `real_path` on opens it can resolve. */
  observe(e: Event): void {
    switch (e.kind) {
      case 'file.open':
        if (e.ret >= 0 && e.path === '' && e.obj !== null) {
          // opened with no path (a handle): named by its descriptor while the process holds it, else by opening
          // the handle it passed ourselves (a secret opened so is still the secret, closed at once or not)
          const real = pathOfOpenFd(e.pid, e.ret, e.obj) ?? (e.handle === undefined ? undefined : pathOfHandle(e.obj, e.handle));
          if (real !== undefined) e.real_path = real;
          return;
        }
        // a message queue lives in its IPC namespace's mqueue filesystem: its name is its path, never resolved here
        if (e.ret >= 0 && !e.path_truncated && e.syscall !== 'mq_open') {
          if (namedByState(e.dirfd, e.path, e.flags)) return;
          // an absolute path needs no process: only a relative one is worth a second try once /proc has lost it
          const real = e.path.startsWith('/')
            ? this.ofAbsolute(e.path, e.obj)
            : (realPathOfRelative(e.pid, e.dirfd, e.path, e.flags) ?? (e.dirfd === AT_FDCWD ? this.fromEvents(e.pid, e.path) : undefined));
          if (real !== undefined) e.real_path = real;
        }
        return;
      case 'file.xattr':
        // a path's attributes: the file is named by its identity now (a file staged through an xattr stays for its reader)
        if (e.ret >= 0 && e.path !== '' && e.obj === null) {
          const obj = identityOf(e.pid, e.fd, e.path, e.syscall.startsWith('l'));
          if (obj !== undefined) e.obj = obj;
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
          const now = livePathOf(`/proc/${e.pid}/cwd`) ?? (e.path === undefined ? undefined : this.fromEvents(e.pid, e.path));
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
    const live = livePathOf(`/proc/${pid}/cwd`);
    if (live !== undefined) this.remember(pid, live);
    return live;
  }

  private ofAbsolute(path: string, obj: string | null): string | undefined {
    const hit = this.known.get(path);
    if (hit !== undefined && obj !== null && hit.obj === obj) return hit.real ?? undefined;
    const resolved = realPath(path);
    // what could not be resolved (the file is gone already) is not remembered
    if (resolved === undefined) return undefined;
    const real = resolved === posix.normalize(path) ? undefined : resolved;
    if (obj !== null) {
      this.known.delete(path);
      this.known.set(path, { obj, real: real ?? null });
      if (this.known.size > MAX_KNOWN_PATHS) this.knownOrder.evict();
    }
    return real;
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
    if (this.cwds.size > MAX_KNOWN_CWDS) this.cwdsOrder.evict();
  }
}
