import type { Event, Family, ObjectType } from '../schema/event.js';
import { flagNames, parseFdArg, parseNum, parseTuple, type FdArg, type SysdigRecord } from './sysdig-line.js';

/**
 * Maps sysdig enter/exit records (a .scap read by sysdig, or LID-DS .sc
 * text) onto canonical events. sysdig names what each fd points at
 * (`fd=3(<f>/etc/passwd)`, `<4t>a:p->b:p`) but not the kernel identity, so
 * objects get identities of our own, one per file path, socket tuple or
 * pipe inode (`0:0:N`, never a real device number). An fd used before the
 * trace opened it becomes a `snapshot.fd`, as a live /proc snapshot would.
 * Whatever cannot be mapped is counted by syscall, never guessed; the one
 * inference (which end of a pre-existing socket is ours) is counted too.
 */
export interface ImportStats {
  records: number;
  events: number;
  /** Records of syscalls with no canonical event (mmap, poll, …), by syscall. */
  unmapped: Record<string, number>;
  /** Exit records whose enter record was not in the trace (needed args missing), by syscall. */
  unpaired: Record<string, number>;
  /** Flag names in open flags with no Linux value here, by name. */
  unknownFlags: Record<string, number>;
  /** Descriptors in use before the trace began (emitted as snapshot.fd). */
  snapshotFds: number;
  /** Pre-existing sockets whose local end was inferred (lower port = the listening side). */
  socketEndsInferred: number;
  /** Lines that are not sysdig event lines, with the first few line numbers. */
  malformed: number;
  malformedLines: number[];
}

export function newImportStats(): ImportStats {
  return { records: 0, events: 0, unmapped: {}, unpaired: {}, unknownFlags: {}, snapshotFds: 0, socketEndsInferred: 0, malformed: 0, malformedLines: [] };
}

const O: Record<string, number> = {
  O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 0o100, O_EXCL: 0o200, O_NOCTTY: 0o400, O_TRUNC: 0o1000, O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000, O_DSYNC: 0o10000, O_ASYNC: 0o20000, O_DIRECT: 0o40000, O_LARGEFILE: 0o100000, O_DIRECTORY: 0o200000,
  O_NOFOLLOW: 0o400000, O_NOATIME: 0o1000000, O_CLOEXEC: 0o2000000, O_SYNC: 0o4010000, O_PATH: 0o10000000, O_TMPFILE: 0o20200000,
  O_NONE: 0, O_F_CREATED: 0,
};
const CLONE: Record<string, number> = {
  CLONE_VM: 0x100, CLONE_FS: 0x200, CLONE_FILES: 0x400, CLONE_SIGHAND: 0x800, CLONE_PTRACE: 0x2000, CLONE_VFORK: 0x4000,
  CLONE_PARENT: 0x8000, CLONE_THREAD: 0x10000, CLONE_NEWNS: 0x20000, CLONE_SYSVSEM: 0x40000, CLONE_SETTLS: 0x80000,
  CLONE_PARENT_SETTID: 0x100000, CLONE_CHILD_CLEARTID: 0x200000, CLONE_DETACHED: 0x400000, CLONE_UNTRACED: 0x800000,
  CLONE_CHILD_SETTID: 0x1000000, CLONE_NEWCGROUP: 0x2000000, CLONE_NEWUTS: 0x4000000, CLONE_NEWIPC: 0x8000000,
  CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000, CLONE_NEWNET: 0x40000000, CLONE_IO: 0x80000000,
};
const AF: Record<string, Family> = { AF_UNIX: 'unix', AF_LOCAL: 'unix', AF_INET: 'inet', AF_INET6: 'inet6', AF_NETLINK: 'netlink', AF_PACKET: 'packet', AF_VSOCK: 'vsock',
  AF_ALG: 'alg', AF_XDP: 'xdp', AF_BLUETOOTH: 'bluetooth', AF_CAN: 'can', AF_TIPC: 'tipc', AF_RDS: 'rds' };

const READS = new Set(['read', 'readv', 'pread', 'pread64', 'preadv', 'preadv2', 'recv', 'recvfrom', 'recvmsg', 'recvmmsg']);
const WRITES = new Set(['write', 'writev', 'pwrite', 'pwrite64', 'pwritev', 'pwritev2', 'send', 'sendto', 'sendmsg', 'sendmmsg']);
const OPENS = new Set(['open', 'openat', 'openat2', 'creat']);
const FORKS = new Set(['clone', 'clone3', 'fork', 'vfork']);

type Emit = (ev: Event) => void;
type Base = { ts: number; cgroup: number; pid: number; tid: number };

export class SysdigMapper {
  /** Enter records awaiting their exit, by tid. */
  private readonly enters = new Map<number, SysdigRecord>();
  private readonly objIds = new Map<string, string>();
  private nextObj = 1;
  /** Descriptors known open per process (pid → fd → object key), to tell in-trace fds from pre-existing ones. */
  private readonly fds = new Map<number, Map<number, string>>();
  private readonly procs = new Set<number>();
  /** Thread → process, as the records show them. */
  private readonly tgidOf = new Map<number, number>();

  constructor(
    /** Wall-clock ns of the trace epoch: event ts are relative to it. */
    readonly epochNs: bigint,
    readonly stats: ImportStats,
  ) {}

  map(r: SysdigRecord, emit: Emit): void {
    this.stats.records++;
    const out: Emit = (ev) => {
      this.stats.events++;
      emit(ev);
    };
    const b: Base = { ts: Math.max(0, Number(r.ts - this.epochNs)), cgroup: 0, pid: r.pid, tid: r.tid };
    this.tgidOf.set(r.tid, r.pid);
    if (!this.procs.has(r.pid)) {
      this.procs.add(r.pid);
      // a child's first record is its clone return, which becomes the fork event that creates it
      if (!(FORKS.has(r.type) && r.dir === '<' && parseNum(r.args.get('res')) === 0)) {
        out({ ...b, kind: 'snapshot.process', ppid: parseNum(r.args.get('ptid')) ?? 0, comm: r.comm, argv: [] });
      }
    }
    if (r.dir === '>') {
      if (r.type === 'procexit') {
        out({ ...b, kind: 'process.exit', code: parseNum(r.args.get('status')) ?? 0, group_dead: r.tid === r.pid });
        if (r.tid === r.pid) this.fds.delete(r.pid);
        return;
      }
      this.enters.set(r.tid, r);
      // fds named on enter records may predate the trace
      for (const k of ['fd', 'in_fd', 'out_fd']) this.noteFd(b, r.args.get(k), out);
      return;
    }
    const enter = this.enters.get(r.tid);
    this.enters.delete(r.tid);
    const en = enter !== undefined && enter.type === r.type ? enter.args : undefined;
    this.exit(r, en, b, out);
  }

  private exit(r: SysdigRecord, en: Map<string, string> | undefined, b: Base, out: Emit): void {
    const a = r.args;
    const t = r.type;
    const unpaired = (): void => {
      this.stats.unpaired[t] = (this.stats.unpaired[t] ?? 0) + 1;
    };
    const enterFd = (k = 'fd'): number | undefined => parseFdArg(en?.get(k))?.num;
    if (OPENS.has(t)) {
      const fd = parseFdArg(a.get('fd'));
      const ret = fd?.num ?? parseNum(a.get('res')) ?? -1;
      const path = fd?.name ?? a.get('name') ?? en?.get('name') ?? '';
      const flags = this.openFlags(a.get('flags') ?? en?.get('flags'));
      const obj = ret >= 0 ? this.idOf(`f:${path}`) : null;
      if (ret >= 0) this.open(r.pid, ret, `f:${path}`);
      out({ ...b, kind: 'file.open', syscall: t, dirfd: -100, path, path_truncated: false, flags, mode: parseNum(a.get('mode')) ?? 0, ret, obj, file_type: fd?.kind === 'd' ? 'dir' : 'file' });
      return;
    }
    if (READS.has(t) || WRITES.has(t)) {
      const fd = enterFd();
      if (fd === undefined) return unpaired();
      const res = parseNum(a.get('res')) ?? -1;
      if (res <= 0) return; // nothing moved
      out({ ...b, kind: 'io', dir: READS.has(t) ? 'in' : 'out', syscall: t, fd, bytes: res, calls: 1, ts_first: b.ts, obj: null });
      return;
    }
    if (t === 'sendfile') {
      const fdOut = enterFd('out_fd');
      const fdIn = enterFd('in_fd');
      if (fdOut === undefined || fdIn === undefined) return unpaired();
      const res = parseNum(a.get('res')) ?? -1;
      if (res > 0) out({ ...b, kind: 'io.xfer', syscall: t, fd_in: fdIn, fd_out: fdOut, bytes: res, calls: 1, ts_first: b.ts, obj_in: null, obj_out: null });
      return;
    }
    if (t === 'close') {
      const fd = enterFd();
      if (fd === undefined) return unpaired();
      const ret = parseNum(a.get('res')) ?? 0;
      this.fds.get(r.pid)?.delete(fd);
      out({ ...b, kind: 'fd.close', fd, ret });
      return;
    }
    if (t === 'socket') {
      const ret = parseFdArg(a.get('fd'))?.num ?? parseNum(a.get('res')) ?? -1;
      const family = AF[flagNames(en?.get('domain'))[0] ?? ''] ?? familyOfNum(parseNum(en?.get('domain')));
      const key = `s:${r.pid}:${ret}:${r.ts}`;
      if (ret >= 0) this.open(r.pid, ret, key);
      out({ ...b, kind: 'fd.socket', family, sock_type: parseNum(en?.get('type')) ?? 0, protocol: parseNum(en?.get('proto')) ?? 0, ret, obj: ret >= 0 ? this.idOf(key) : null });
      return;
    }
    if (t === 'connect' || t === 'bind') {
      const fd = enterFd();
      if (fd === undefined) return unpaired();
      const ret = parseNum(a.get('res')) ?? -1;
      const tuple = parseTuple(a.get('tuple'));
      const addr = en?.get('addr') ?? a.get('addr');
      const peer = tuple?.dst ?? parseEndpoint(addr);
      const family: Family = peer?.addr.includes(':') ? 'inet6' : peer !== undefined ? 'inet' : addr?.startsWith('/') ? 'unix' : 'other';
      out({
        ...b, kind: 'net.addr', op: t, fd, ret, obj: null, family,
        ...(peer !== undefined && { addr: peer.addr, port: peer.port }),
        ...(family === 'unix' && addr !== undefined && { path: addr }),
        peer_obj: null,
      });
      return;
    }
    if (t === 'accept' || t === 'accept4') {
      const fd = parseFdArg(a.get('fd'));
      const ret = fd?.num ?? parseNum(a.get('res')) ?? -1;
      const tuple = parseTuple(a.get('tuple') ?? fd?.name);
      const key = `s:${tuple ? `${tuple.src.addr}:${tuple.src.port}->${tuple.dst.addr}:${tuple.dst.port}` : `${r.pid}:${ret}:${r.ts}`}`;
      if (ret >= 0) this.open(r.pid, ret, key);
      out({
        ...b, kind: 'net.accept', syscall: t, listen_fd: -1, ret, obj: ret >= 0 ? this.idOf(key) : null,
        ...(tuple && { family: tuple.src.addr.includes(':') ? 'inet6' : 'inet', peer_addr: tuple.src.addr, peer_port: tuple.src.port, local_port: tuple.dst.port }),
        peer_obj: null,
      });
      return;
    }
    if (t === 'dup' || t === 'dup2' || t === 'dup3' || (t === 'fcntl' && /F_DUPFD/.test(en?.get('cmd') ?? ''))) {
      const oldfd = enterFd() ?? enterFd('oldfd');
      const ret = parseNum(a.get('res')) ?? -1;
      if (oldfd === undefined) return unpaired();
      const key = this.fds.get(r.pid)?.get(oldfd);
      if (ret >= 0 && key !== undefined) this.open(r.pid, ret, key);
      out({ ...b, kind: 'fd.dup', syscall: t === 'fcntl' ? 'fcntl' : t, oldfd, newfd: ret, flags: 0, ret });
      return;
    }
    if (t === 'pipe' || t === 'pipe2') {
      const ret = parseNum(a.get('res')) ?? -1;
      const f1 = parseFdArg(a.get('fd1'))?.num;
      const f2 = parseFdArg(a.get('fd2'))?.num;
      if (ret < 0 || f1 === undefined || f2 === undefined) {
        out({ ...b, kind: 'fd.pipe', flags: 0, ret: ret < 0 ? ret : -1, fds: [-1, -1], obj: null });
        return;
      }
      const key = `p:${a.get('ino') ?? `${r.pid}:${r.ts}`}`;
      this.open(r.pid, f1, key);
      this.open(r.pid, f2, key);
      out({ ...b, kind: 'fd.pipe', flags: 0, ret, fds: [f1, f2], obj: this.idOf(key) });
      return;
    }
    if (FORKS.has(t)) {
      // taken from the child's side: in a container the parent's return value is the child's pid in its namespace
      // (LID-DS: res=23), while the child's own record carries its real tid and its parent's (ptid)
      const res = parseNum(a.get('res')) ?? -1;
      if (res !== 0) return;
      let flags = 0;
      for (const n of flagNames(a.get('flags'))) flags |= CLONE[n] ?? 0;
      const thread = (flags & CLONE.CLONE_THREAD!) !== 0;
      const ptid = parseNum(a.get('ptid'));
      if (ptid === undefined) return unpaired();
      const parentPid = thread ? r.pid : (this.tgidOf.get(ptid) ?? ptid);
      out({ ts: b.ts, cgroup: 0, pid: parentPid, tid: ptid, kind: 'process.fork', child_tid: r.tid, thread, clone_flags: flags >>> 0 });
      if (!thread) {
        // the child starts with a copy of the parent's fd table
        const mine = this.fds.get(parentPid);
        if (mine) this.fds.set(r.pid, new Map(mine));
      }
      return;
    }
    if (t === 'execve' || t === 'execveat') {
      const res = parseNum(a.get('res')) ?? -1;
      if (res < 0) return;
      const argvText = a.get('args') ?? '';
      const exe = a.get('exe') ?? '';
      const filename = en?.get('filename') ?? exe;
      const argv = [exe, ...argvText.split('.').filter((s) => s.length > 0)];
      out({ ...b, kind: 'process.exec', filename, argv, argv_truncated: argvText.endsWith('...'), old_tid: r.tid, ppid: parseNum(a.get('ptid')) ?? 0, exe_obj: null });
      if (a.get('comm')) out({ ...b, kind: 'process.comm', comm: a.get('comm')! });
      return;
    }
    if (t === 'chdir') {
      const path = a.get('path');
      out({ ...b, kind: 'process.chdir', ...(path !== undefined && { path: stripParen(path) }), ret: parseNum(a.get('res')) ?? 0 });
      return;
    }
    if (t === 'fchdir') {
      const fd = enterFd();
      if (fd === undefined) return unpaired();
      out({ ...b, kind: 'process.chdir', fd, ret: parseNum(a.get('res')) ?? 0 });
      return;
    }
    if (t === 'rename' || t === 'renameat' || t === 'renameat2' || t === 'link' || t === 'linkat' || t === 'symlink' || t === 'symlinkat') {
      const oldPath = stripParen(a.get('oldpath') ?? a.get('target') ?? '');
      const newPath = stripParen(a.get('newpath') ?? a.get('linkpath') ?? '');
      const op = t.startsWith('rename') ? 'rename' : t.startsWith('symlink') ? 'symlink' : 'link';
      out({ ...b, kind: 'file.path2', syscall: t, op, old_dirfd: -100, old_path: oldPath, new_dirfd: -100, new_path: newPath, flags: 0, ret: parseNum(a.get('res')) ?? 0 } as Event);
      return;
    }
    if (t === 'unlink' || t === 'unlinkat') {
      out({ ...b, kind: 'file.unlink', syscall: t, dirfd: -100, path: stripParen(a.get('path') ?? a.get('name') ?? ''), flags: 0, ret: parseNum(a.get('res')) ?? 0 });
      return;
    }
    this.stats.unmapped[t] = (this.stats.unmapped[t] ?? 0) + 1;
  }

  /** An fd named on an enter record that the trace never opened: it was open before the trace began. */
  private noteFd(b: Base, v: string | undefined, out: Emit): void {
    const fd = parseFdArg(v);
    if (fd === undefined || fd.num < 0 || fd.kind === undefined) return;
    const table = this.fds.get(b.pid);
    if (table?.has(fd.num)) return;
    const snap = this.snapshotOf(fd);
    if (snap === undefined) return;
    this.open(b.pid, fd.num, snap.key);
    this.stats.snapshotFds++;
    out({ ...b, kind: 'snapshot.fd', fd: fd.num, obj: this.idOf(snap.key), target: snap.target, flags: 0, object_type: snap.type, ...snap.extra });
  }

  private snapshotOf(fd: FdArg): { key: string; target: string; type: ObjectType; extra: Partial<Extract<Event, { kind: 'snapshot.fd' }>> } | undefined {
    const name = fd.name ?? '';
    switch (fd.kind) {
      case 'f':
      case 'd':
        return { key: `f:${name}`, target: name, type: fd.kind === 'd' ? 'dir' : 'file', extra: {} };
      case 'p':
        return { key: `p:${name}`, target: `pipe:[${name}]`, type: 'pipe', extra: {} };
      case '4t':
      case '4u':
      case '6t':
      case '6u': {
        const tuple = parseTuple(name);
        const family: Family = fd.kind.startsWith('6') ? 'inet6' : 'inet';
        if (tuple === undefined) return { key: `s:${name}`, target: `socket:[${name}]`, type: 'socket', extra: { family } };
        // sysdig writes client->server; the lower port is taken to be the server's (counted: an inference)
        this.stats.socketEndsInferred++;
        const weAreServer = tuple.dst.port < tuple.src.port;
        const [local, peer] = weAreServer ? [tuple.dst, tuple.src] : [tuple.src, tuple.dst];
        return { key: `s:${name}`, target: `socket:[${name}]`, type: 'socket', extra: { family, local, peer } };
      }
      case 'u':
        return { key: `u:${name}`, target: `socket:[${name}]`, type: 'socket', extra: { family: 'unix' } };
      default:
        return undefined;
    }
  }

  private open(pid: number, fd: number, key: string): void {
    let t = this.fds.get(pid);
    if (t === undefined) {
      t = new Map();
      this.fds.set(pid, t);
    }
    t.set(fd, key);
  }

  private idOf(key: string): string {
    let id = this.objIds.get(key);
    if (id === undefined) {
      id = `0:0:${this.nextObj++}`;
      this.objIds.set(key, id);
    }
    return id;
  }

  private openFlags(v: string | undefined): number {
    let f = 0;
    for (const n of flagNames(v)) {
      const x = O[n];
      if (x === undefined) this.stats.unknownFlags[n] = (this.stats.unknownFlags[n] ?? 0) + 1;
      else f |= x;
    }
    return f;
  }
}

function familyOfNum(n: number | undefined): Family {
  return n === 1 ? 'unix' : n === 2 ? 'inet' : n === 10 ? 'inet6' : n === 16 ? 'netlink' : n === 17 ? 'packet' : 'other';
}

function parseEndpoint(v: string | undefined): { addr: string; port: number } | undefined {
  const m = v === undefined ? null : /^\[?([0-9a-fA-F.:]+?)\]?:(\d+)$/.exec(v);
  return m === null ? undefined : { addr: m[1]!, port: Number(m[2]) };
}

/** `/tmp/x(/tmp/x)` (sysdig appends the resolved path) → the first form. */
function stripParen(v: string): string {
  const i = v.indexOf('(');
  return i > 0 && v.endsWith(')') ? v.slice(0, i) : v;
}
