import { checkEvent, type Event, type Family, type ObjectType } from '../schema/event.js';
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
  /** Records of syscalls with no canonical event (poll, fstat, a private anonymous mmap, …), by syscall. */
  unmapped: Record<string, number>;
  /** Exit records whose enter record was not in the trace (needed args missing), by syscall. */
  unpaired: Record<string, number>;
  /** Flag names in open flags with no Linux value here, by name. */
  unknownFlags: Record<string, number>;
  /** Descriptors in use before the trace began (emitted as snapshot.fd). */
  snapshotFds: number;
  /** Pre-existing sockets whose local end was inferred (lower port = the listening side). */
  socketEndsInferred: number;
  /**
   * Records whose event would not be a valid canonical event (a value out of
   * range: a byte count beyond 2^53, a negative length), by syscall, with
   * the first reason: not emitted, so nothing invalid reaches the state.
   */
  rejected: Record<string, number>;
  rejectedFirst?: string;
  /** Lines that are not sysdig event lines, with the first few line numbers. */
  malformed: number;
  malformedLines: number[];
}

export function newImportStats(): ImportStats {
  return { records: 0, events: 0, unmapped: {}, unpaired: {}, unknownFlags: {}, rejected: {}, snapshotFds: 0, socketEndsInferred: 0, malformed: 0, malformedLines: [] };
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
/** mmap flags and protections by sysdig's names, as Linux values (sysdig's own numbers differ). */
const MAP: Record<string, number> = {
  MAP_FILE: 0, MAP_SHARED: 0x1, MAP_PRIVATE: 0x2, MAP_SHARED_VALIDATE: 0x3, MAP_FIXED: 0x10, MAP_ANONYMOUS: 0x20, MAP_32BIT: 0x40,
  MAP_GROWSDOWN: 0x100, MAP_DENYWRITE: 0x800, MAP_EXECUTABLE: 0x1000, MAP_LOCKED: 0x2000, MAP_NORESERVE: 0x4000, MAP_POPULATE: 0x8000,
  MAP_NONBLOCK: 0x10000, MAP_STACK: 0x20000, MAP_HUGETLB: 0x40000, MAP_SYNC: 0x80000, MAP_FIXED_NOREPLACE: 0x100000,
};
const PROT: Record<string, number> = { PROT_NONE: 0, PROT_READ: 1, PROT_WRITE: 2, PROT_EXEC: 4, PROT_SEM: 8, PROT_GROWSDOWN: 0x01000000, PROT_GROWSUP: 0x02000000 };
const MAP_ANONYMOUS = 0x20;
const MAP_TYPE = 0xf;
const O_CLOEXEC = 0o2000000;

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
  /**
   * Processes that made a shared mapping (or inherited one at fork): their
   * munmap calls are events, as the live probe prints them for such
   * processes only; exec and exit end it.
   */
  private readonly sharedMappers = new Set<number>();

  constructor(
    /** Wall-clock ns of the trace epoch: event ts are relative to it. */
    readonly epochNs: bigint,
    readonly stats: ImportStats,
  ) {}

  map(r: SysdigRecord, emit: Emit): void {
    this.stats.records++;
    const out: Emit = (ev) => {
      const ok = checkEvent(ev);
      if (!ok.success) {
        this.stats.rejected[r.type] = (this.stats.rejected[r.type] ?? 0) + 1;
        this.stats.rejectedFirst ??= `${r.type}: ${ok.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
        return;
      }
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
        if (r.tid === r.pid) {
          this.fds.delete(r.pid);
          this.sharedMappers.delete(r.pid);
        }
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
    if (t === 'sendfile' || t === 'splice' || t === 'copy_file_range') {
      // in-kernel copies: sendfile(out_fd, in_fd), splice(fd_in, fd_out) on enter; copy_file_range names fdin on enter, fdout on exit
      const fdIn = enterFd(t === 'sendfile' ? 'in_fd' : t === 'splice' ? 'fd_in' : 'fdin');
      const fdOut = t === 'copy_file_range' ? parseFdArg(a.get('fdout'))?.num : enterFd(t === 'sendfile' ? 'out_fd' : 'fd_out');
      if (fdOut === undefined || fdIn === undefined) return unpaired();
      const res = parseNum(a.get('res')) ?? -1;
      if (res > 0) out({ ...b, kind: 'io.xfer', syscall: t, fd_in: fdIn, fd_out: fdOut, bytes: res, calls: 1, ts_first: b.ts, obj_in: null, obj_out: null });
      return;
    }
    if (t === 'mmap' || t === 'mmap2') return this.mmap(r, en, b, out, unpaired);
    if (t === 'munmap') {
      if (en === undefined) return unpaired();
      const addr = parseHex(en.get('addr'));
      if (addr === undefined) return this.unmapped(t);
      if ((parseNum(a.get('res')) ?? -1) !== 0) return;
      // the live probe reports munmap only for processes with shared mappings: the others' change nothing followed
      if (!this.sharedMappers.has(r.pid)) return this.unmapped(t);
      out({ ...b, kind: 'mem.unmap', addr, len: parseNum(en.get('length')) ?? 0 });
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
      const family = domainOf(en);
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
      // dup3's O_CLOEXEC and fcntl's F_DUPFD_CLOEXEC make the new descriptor close-on-exec
      const flags = t === 'fcntl' ? (/F_DUPFD_CLOEXEC/.test(en?.get('cmd') ?? '') ? O_CLOEXEC : 0) : t === 'dup3' ? this.openFlags(a.get('flags') ?? en?.get('flags')) & O_CLOEXEC : 0;
      out({ ...b, kind: 'fd.dup', syscall: t === 'fcntl' ? 'fcntl' : t, oldfd, newfd: ret, flags, ret });
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
    if (t === 'socketpair') {
      const ret = parseNum(a.get('res')) ?? -1;
      const family = domainOf(en);
      const sockType = parseNum(en?.get('type')) ?? 0;
      const f1 = parseFdArg(a.get('fd1'))?.num;
      const f2 = parseFdArg(a.get('fd2'))?.num;
      if (ret < 0 || f1 === undefined || f2 === undefined) {
        out({ ...b, kind: 'fd.socketpair', family, sock_type: sockType, ret: ret < 0 ? ret : -1, fds: [-1, -1], objs: [null, null] });
        return;
      }
      // the two ends are two sockets: sysdig names them by their kernel addresses (source, peer)
      const k1 = `u:${a.get('source') ?? `${r.pid}:${f1}:${r.ts}`}`;
      const k2 = `u:${a.get('peer') ?? `${r.pid}:${f2}:${r.ts}`}`;
      this.open(r.pid, f1, k1);
      this.open(r.pid, f2, k2);
      out({ ...b, kind: 'fd.socketpair', family, sock_type: sockType, ret, fds: [f1, f2], objs: [this.idOf(k1), this.idOf(k2)] });
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
        // and shares its shared mappings
        if (this.sharedMappers.has(parentPid)) this.sharedMappers.add(r.pid);
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
      this.sharedMappers.delete(r.pid); // exec replaces the memory
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
    this.unmapped(t);
  }

  private unmapped(t: string): void {
    this.stats.unmapped[t] = (this.stats.unmapped[t] ?? 0) + 1;
  }

  /**
   * mmap as the live probe sees it: a mapping of a file is a read of the
   * mapped length (whatever its protection, as the loader maps libraries);
   * a shared one (MAP_SHARED, MAP_SHARED_VALIDATE) is also a `mem.map`,
   * first, linking the process to the file or anonymous memory. A private
   * anonymous mapping moves nothing between objects: counted as unmapped.
   */
  private mmap(r: SysdigRecord, en: Map<string, string> | undefined, b: Base, out: Emit, unpaired: () => void): void {
    if (en === undefined) return unpaired();
    const res = r.args.get('res') ?? '';
    if (res.startsWith('-')) return; // nothing mapped (-errno), as the probe reports nothing
    const addr = parseHex(res);
    if (addr === undefined) return this.unmapped(r.type);
    const len = parseNum(en.get('length')) ?? 0;
    const flags = this.flagBits(en.get('flags'), MAP);
    const prot = this.flagBits(en.get('prot'), PROT);
    const fdArg = parseFdArg(en.get('fd'));
    // sysdig prints fd -1 as 4294967295; the kernel ignores the descriptor of an anonymous mapping
    const fd = (flags & MAP_ANONYMOUS) !== 0 || fdArg === undefined || fdArg.num < 0 || fdArg.num > 0x7fffffff ? -1 : fdArg.num;
    const type = flags & MAP_TYPE;
    const shared = (type === 1 || type === 3) && len !== 0;
    if (shared) {
      const key = fd >= 0 ? this.fds.get(r.pid)?.get(fd) : undefined;
      this.sharedMappers.add(r.pid);
      out({ ...b, kind: 'mem.map', addr, len, prot, flags, fd, obj: key === undefined ? null : this.idOf(key) });
    }
    if (fd >= 0) out({ ...b, kind: 'io', dir: 'in', syscall: 'mmap', fd, bytes: len, calls: 1, ts_first: b.ts, obj: null });
    else if (!shared) this.unmapped(r.type);
  }

  /** `3(PROT_READ|PROT_WRITE)` → Linux's bits for the names (sysdig's own number is not Linux's); unknown names counted. */
  private flagBits(v: string | undefined, table: Record<string, number>): number {
    let f = 0;
    for (const n of flagNames(v)) {
      const x = table[n];
      if (x === undefined) this.stats.unknownFlags[n] = (this.stats.unknownFlags[n] ?? 0) + 1;
      else f |= x;
    }
    return f;
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
    return this.flagBits(v, O);
  }
}

/** socket/socketpair's domain, by sysdig's name for it or else its number. */
function domainOf(en: Map<string, string> | undefined): Family {
  return AF[flagNames(en?.get('domain'))[0] ?? ''] ?? familyOfNum(parseNum(en?.get('domain')));
}

function familyOfNum(n: number | undefined): Family {
  return n === 1 ? 'unix' : n === 2 ? 'inet' : n === 10 ? 'inet6' : n === 16 ? 'netlink' : n === 17 ? 'packet' : 'other';
}

/** An address as sysdig prints it (`7FAD48782000`, hex without 0x) → a number (user addresses fit in 2^53). */
function parseHex(v: string | undefined): number | undefined {
  if (v === undefined || !/^(0x)?[0-9a-fA-F]{1,13}$/.test(v)) return undefined;
  return Number.parseInt(v.startsWith('0x') ? v.slice(2) : v, 16);
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
