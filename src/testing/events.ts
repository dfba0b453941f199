import type { Event, EventOf, ObjId } from '../schema/event.js';

/** Builders for canonical events in unit tests (never imported by production code). */
let clock = 0;
const base = (pid: number, tid = pid) => ({ ts: ++clock, cgroup: 1, pid, tid });

export const ev = {
  open: (pid: number, fd: number, obj: ObjId, path: string, flags = 0): EventOf<'file.open'> => ({
    ...base(pid), kind: 'file.open', syscall: 'openat', dirfd: -100, path, path_truncated: false, flags, mode: 0, ret: fd, obj, file_type: 'file',
  }),
  dup: (pid: number, oldfd: number, ret: number, flags = 0, syscall = 'dup3', newfd = ret): EventOf<'fd.dup'> => ({
    ...base(pid), kind: 'fd.dup', syscall, oldfd, newfd, flags, ret,
  }),
  close: (pid: number, fd: number, ret = 0): EventOf<'fd.close'> => ({ ...base(pid), kind: 'fd.close', fd, ret }),
  fork: (pid: number, child: number, thread = false): EventOf<'process.fork'> => ({
    ...base(pid), kind: 'process.fork', child_tid: child, thread, clone_flags: thread ? 0x10000 | 0x400 : 0,
  }),
  exec: (pid: number, filename = '/bin/true'): EventOf<'process.exec'> => ({
    ...base(pid), kind: 'process.exec', filename, argv: [filename], argv_truncated: false, old_tid: pid, ppid: 1, exe_obj: null,
  }),
  exit: (pid: number, tid = pid, groupDead = true): EventOf<'process.exit'> => ({ ...base(pid, tid), kind: 'process.exit', code: 0, group_dead: groupDead }),
  setfd: (pid: number, fd: number, cloexec: boolean): EventOf<'fd.fcntl'> => ({ ...base(pid), kind: 'fd.fcntl', fd, cmd: 2, arg: cloexec ? 1 : 0, ret: 0 }),
  closeRange: (pid: number, first: number, last: number, flags = 0): EventOf<'fd.close_range'> => ({
    ...base(pid), kind: 'fd.close_range', first, last, flags, ret: 0,
  }),
  rights: (pid: number, dir: 'send' | 'recv', fd: number, obj: ObjId | null, sockFd = 99): EventOf<'fd.rights'> => ({
    ...base(pid), kind: 'fd.rights', dir, sock_fd: sockFd, index: 0, count: 1, fd, obj,
  }),
  read: (pid: number, fd: number, bytes = 10, obj: ObjId | null = null): EventOf<'io'> => {
    const b = base(pid);
    return { ...b, kind: 'io', dir: 'in', syscall: 'read', fd, bytes, calls: 1, ts_first: b.ts, obj };
  },
  seen: (pid: number, ppid = 1, comm = 'proc'): EventOf<'process.seen'> => ({ ...base(pid), kind: 'process.seen', ppid, comm }),
};

export type AnyEvent = Event;
