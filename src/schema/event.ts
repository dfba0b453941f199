import { z } from 'zod';
import { compileFastValidator } from './fast-validator.js';

/**
 * The canonical event: the one type every stage shares (decoder, state,
 * correlation, policy, sinks, recorder, replay, agent stream).
 *
 * Time: `ts` is nanoseconds on the kernel's monotonic clock (the clock of
 * bpftrace's `nsecs`) minus the trace's epoch (`TraceHeader.mono_epoch_ns`),
 * so it stays an exact JSON integer for 104 days of tracing. The header pins
 * that epoch to wall-clock time.
 *
 * Objects (files, pipes, sockets, memfds) are named by their kernel identity
 * `MAJOR:MINOR:INODE` (`ObjId`), read from the kernel's fd table at syscall
 * exit: the same identity /proc/PID/fd reports, robust against path games
 * (symlinks, `..`, renames, hard links, long paths, racing buffers).
 *
 * Decoded events carry syscall facts only. The state stage adds `proc` (who)
 * and `res` (what each fd the event names points at).
 */

export const ObjId = z.string().regex(/^\d+:\d+:\d+$/, 'expected MAJOR:MINOR:INODE');
export type ObjId = z.infer<typeof ObjId>;

/**
 * Socket families by name. `other` is any family not named here (the
 * kernel has ~45); `alg` is the kernel's crypto API. Which of them keep
 * data on the machine is decided in one place (correlate/egress.ts).
 */
export const Family = z.enum(['unix', 'inet', 'inet6', 'netlink', 'packet', 'vsock', 'alg', 'xdp', 'bluetooth', 'can', 'tipc', 'rds', 'other']);
export type Family = z.infer<typeof Family>;

export const FileType = z.enum(['file', 'dir', 'chr', 'blk', 'fifo', 'sock', 'link', 'unknown']);
export type FileType = z.infer<typeof FileType>;

export const Endpoint = z.object({
  addr: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
  path: z.string().optional(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const ObjectType = z.enum(['file', 'dir', 'pipe', 'socket', 'memfd', 'device', 'anon', 'shm', 'unknown']);
export type ObjectType = z.infer<typeof ObjectType>;

/** What a descriptor points at, as resolved by the state stage. */
export const ObjectView = z.object({
  id: ObjId,
  type: ObjectType,
  /** The conduit data moves through: the pipe for both pipe ends, the pair for connected unix sockets, else the object itself. */
  channel: z.string(),
  path: z.string().optional(),
  /**
   * The file's first name, when `path` is a later one: given by a link or
   * rename the watch saw (`ln ~/.ssh/id_ed25519 /tmp/notes.txt`), or the
   * name it was open under before. Data classes and file policies judge
   * both.
   */
  aka: z.string().optional(),
  /** Open flags of the open file description (O_ACCMODE, O_APPEND, ...), as numbers. */
  flags: z.number().int().optional(),
  cloexec: z.boolean().optional(),
  family: Family.optional(),
  sock_type: z.number().int().optional(),
  local: Endpoint.optional(),
  peer: Endpoint.optional(),
  /** A socket made by accept(2): the server's end of a connection. */
  accepted: z.boolean().optional(),
});
export type ObjectView = z.infer<typeof ObjectView>;

export const ProcView = z.object({
  ppid: z.number().int(),
  comm: z.string(),
  exe: z.string().optional(),
  task: z.string(),
  /** The process tree within the task: the pid of the topmost ancestor in the same cgroup (chain rules join `by: tree`). */
  tree: z.number().int().optional(),
});
export type ProcView = z.infer<typeof ProcView>;

const base = {
  ts: z.number().int().nonnegative(),
  cgroup: z.number().int().nonnegative(),
  pid: z.number().int().nonnegative(),
  tid: z.number().int().nonnegative(),
  proc: ProcView.optional(),
  res: z.record(z.string(), ObjectView).optional(),
  /** Absolute, normalised form of each path field, resolved against cwd or dirfd by the state stage. */
  abs: z.record(z.string(), z.string()).optional(),
};

const fd = z.number().int();
const ret = z.number().int();
const objOrNull = ObjId.nullable();

export const ProcessSeen = z.object({
  ...base,
  kind: z.literal('process.seen'),
  ppid: z.number().int(),
  comm: z.string(),
  /**
   * The program the thread ran then, named by where its command line starts
   * in its memory (a new address on each exec): /proc showing another
   * address shows a later program. Absent for a kernel thread.
   */
  arg_start: z.number().int().nonnegative().optional(),
});
export const ProcessFork = z.object({
  ...base,
  kind: z.literal('process.fork'),
  child_tid: z.number().int().nonnegative(),
  thread: z.boolean(),
  clone_flags: z.number().int().nonnegative(),
});
export const ProcessExec = z.object({
  ...base,
  kind: z.literal('process.exec'),
  filename: z.string(),
  argv: z.array(z.string()),
  argv_truncated: z.boolean(),
  old_tid: z.number().int(),
  ppid: z.number().int(),
  exe_obj: objOrNull,
});
export const ProcessComm = z.object({ ...base, kind: z.literal('process.comm'), comm: z.string() });
export const ProcessExit = z.object({ ...base, kind: z.literal('process.exit'), code: z.number().int(), group_dead: z.boolean() });
export const ProcessChdir = z.object({ ...base, kind: z.literal('process.chdir'), path: z.string().optional(), fd: fd.optional(), ret });

export const FileOpen = z.object({
  ...base,
  kind: z.literal('file.open'),
  syscall: z.string(),
  dirfd: fd,
  path: z.string(),
  path_truncated: z.boolean(),
  /** Live: the file the open reached with symlinks resolved, when that differs from `path` (asked right after the open). */
  real_path: z.string().optional(),
  flags: z.number().int().nonnegative(),
  mode: z.number().int().nonnegative(),
  ret,
  obj: objOrNull,
  file_type: FileType,
  /**
   * open_by_handle_at: the handle the process passed (no path): its type,
   * its length, and its bytes as hex (the first 40 at most), from which
   * chainwatch names the file.
   */
  handle: z.object({ type: z.number().int(), bytes: z.number().int().nonnegative(), hex: z.string().regex(/^(?:[0-9a-f]{2}){0,40}$/) }).optional(),
});
export const FileMemfd = z.object({ ...base, kind: z.literal('file.memfd'), name: z.string(), flags: z.number().int(), ret, obj: objOrNull });
export const FilePath2 = z.object({
  ...base,
  kind: z.literal('file.path2'),
  syscall: z.string(),
  op: z.enum(['rename', 'link', 'symlink']),
  old_dirfd: fd,
  old_path: z.string(),
  new_dirfd: fd,
  new_path: z.string(),
  flags: z.number().int(),
  ret,
});
export const FileUnlink = z.object({ ...base, kind: z.literal('file.unlink'), syscall: z.string(), dirfd: fd, path: z.string(), flags: z.number().int(), ret });
/**
 * An extended attribute set or read (`setxattr`, `fgetxattr`, …): data of
 * its own that no read or write moves. `fd` is the descriptor of the f*
 * calls, else the directory the path is relative to (-100: the working
 * directory); `path` is empty for a descriptor's own attributes. `bytes`:
 * the value's size (set) or the bytes read (get). `obj`: the file, when a
 * descriptor or (live) the path named it.
 */
export const FileXattr = z.object({
  ...base,
  kind: z.literal('file.xattr'),
  syscall: z.string(),
  op: z.enum(['set', 'get']),
  fd,
  path: z.string(),
  bytes: z.number().int().nonnegative(),
  ret,
  obj: objOrNull,
});

export const FdDup = z.object({ ...base, kind: z.literal('fd.dup'), syscall: z.string(), oldfd: fd, newfd: fd, flags: z.number().int(), ret });
export const FdFcntl = z.object({ ...base, kind: z.literal('fd.fcntl'), fd, cmd: z.number().int(), arg: z.number().int(), ret });
export const FdClose = z.object({ ...base, kind: z.literal('fd.close'), fd, ret });
export const FdCloseRange = z.object({ ...base, kind: z.literal('fd.close_range'), first: fd, last: z.number().int(), flags: z.number().int(), ret });
export const FdPipe = z.object({ ...base, kind: z.literal('fd.pipe'), flags: z.number().int(), ret, fds: z.tuple([fd, fd]), obj: objOrNull });
export const FdSocket = z.object({
  ...base,
  kind: z.literal('fd.socket'),
  family: Family,
  sock_type: z.number().int(),
  protocol: z.number().int(),
  ret,
  obj: objOrNull,
});
export const FdSocketpair = z.object({
  ...base,
  kind: z.literal('fd.socketpair'),
  family: Family,
  sock_type: z.number().int(),
  ret,
  fds: z.tuple([fd, fd]),
  objs: z.tuple([objOrNull, objOrNull]),
});
export const FdRights = z.object({
  ...base,
  kind: z.literal('fd.rights'),
  dir: z.enum(['send', 'recv']),
  sock_fd: fd,
  index: z.number().int().nonnegative(),
  count: z.number().int().nonnegative(),
  fd,
  obj: objOrNull,
  /** Received close-on-exec (recvmsg with MSG_CMSG_CLOEXEC): gone at the receiver's next exec. */
  cloexec: z.literal(true).optional(),
  /** The descriptor is a socket of this family (read by the probe from the kernel's socket): absent for anything else. */
  family: Family.optional(),
});

/**
 * pidfd_getfd: the caller took a copy of descriptor `target_fd` of process
 * `target` (named by `pidfd`; -1 when the probe could not read it) as
 * `ret`, close-on-exec, pointing at the target's object `obj`.
 */
export const FdGetfd = z.object({ ...base, kind: z.literal('fd.getfd'), pidfd: fd, target_fd: fd, target: z.number().int(), ret, obj: objOrNull });

export const NetAddr = z.object({
  ...base,
  kind: z.literal('net.addr'),
  op: z.enum(['connect', 'bind']),
  fd,
  ret,
  obj: objOrNull,
  family: Family,
  addr: z.string().optional(),
  port: z.number().int().optional(),
  path: z.string().optional(),
  peer_obj: objOrNull,
});
export const NetAccept = z.object({
  ...base,
  kind: z.literal('net.accept'),
  syscall: z.string(),
  listen_fd: fd,
  ret,
  obj: objOrNull,
  family: Family.optional(),
  peer_addr: z.string().optional(),
  peer_port: z.number().int().optional(),
  local_port: z.number().int().optional(),
  peer_obj: objOrNull,
});
export const NetDest = z.object({
  ...base,
  kind: z.literal('net.dest'),
  /** -1 for an io_uring send: the ring names its socket by `obj` */
  fd,
  ret,
  family: Family,
  addr: z.string().optional(),
  port: z.number().int().optional(),
  path: z.string().optional(),
  /** the socket's kernel identity, for a send that names no descriptor (io_uring) */
  obj: ObjId.optional(),
});

/**
 * Data movement. The first call of a run carries `obj` (kernel identity of
 * the fd's object) and `calls: 1`; the probe sums further calls on the same
 * run into one event with `calls > 1`, `ts_first`..`ts` and the byte total.
 */
export const Io = z.object({
  ...base,
  kind: z.literal('io'),
  dir: z.enum(['in', 'out']),
  syscall: z.string(),
  fd,
  bytes: z.number().int().nonnegative(),
  calls: z.number().int().positive(),
  ts_first: z.number().int().nonnegative(),
  obj: objOrNull,
});
/** In-kernel copies (sendfile, splice, tee, copy_file_range): data moves with no read or write. */
export const IoXfer = z.object({
  ...base,
  kind: z.literal('io.xfer'),
  syscall: z.string(),
  fd_in: fd,
  fd_out: fd,
  bytes: z.number().int().nonnegative(),
  calls: z.number().int().positive(),
  ts_first: z.number().int().nonnegative(),
  obj_in: objOrNull,
  obj_out: objOrNull,
});

/** Kernel events were lost (perf buffer overrun). Never silent. */
/** The probe killed a process in the kernel for a policy hard deny (exec of an image, connect to a destination, the intent does not allow). */
/**
 * process_vm_readv (`in`: the caller reads `target`'s memory) and
 * process_vm_writev (`out`: it writes into it); `ret` is the bytes moved or
 * -errno. Data moves between two processes with no object between them.
 */
export const ProcessVm = z.object({ ...base, kind: z.literal('process.vm'), syscall: z.string(), dir: z.enum(['in', 'out']), target: z.number().int(), ret });
/**
 * The thread made a 32-bit system call (ia32: `int $0x80`, or a 32-bit
 * program): the kernel's syscall tracepoints do not report those, so
 * nothing that thread does through them (opens, reads, connects, sends) is
 * seen. Printed once per thread, for its first such call; `nr` is the ia32
 * number and `syscall` its name (`ia32.read`; `ia32.N` when not known).
 */
export const ProcessCompatSyscall = z.object({ ...base, kind: z.literal('process.compat_syscall'), nr: z.number().int().nonnegative(), syscall: z.string() });
/**
 * A shared mapping (MAP_SHARED) was made: memory that every process mapping
 * the same object sees, written and read with no syscall. `fd` -1 and `obj`
 * null for an anonymous one (shared with the children forked after it: the
 * state gives it an identity of its own). `addr` is where it was mapped.
 */
export const MemMap = z.object({
  ...base,
  kind: z.literal('mem.map'),
  addr: z.number().int().nonnegative(),
  len: z.number().int().nonnegative(),
  prot: z.number().int().nonnegative(),
  flags: z.number().int().nonnegative(),
  fd,
  obj: objOrNull,
  /**
   * A System V segment attached (shmat): its id in IPC namespace `ipc_ns`
   * (that namespace's inode number). `len` is 0 (unknown), `prot` read and
   * write unless attached SHM_RDONLY; the state names the segment once per
   * namespace and id, so every process attaching it shares one identity.
   */
  shmid: z.number().int().nonnegative().optional(),
  ipc_ns: z.number().int().nonnegative().optional(),
});
/**
 * munmap by a process that has shared mappings: those lying wholly in
 * [addr, addr + len) are gone. `len` 0: shmdt, the System V segment
 * attached at `addr`.
 */
export const MemUnmap = z.object({ ...base, kind: z.literal('mem.unmap'), addr: z.number().int().nonnegative(), len: z.number().int().nonnegative() });
/** mremap by a process that has shared mappings: what was mapped at `addr` is now (also, if only part moved) at `new_addr`. */
export const MemRemap = z.object({
  ...base,
  kind: z.literal('mem.remap'),
  addr: z.number().int().nonnegative(),
  old_len: z.number().int().nonnegative(),
  new_addr: z.number().int().nonnegative(),
  new_len: z.number().int().nonnegative(),
});
export const EnforceKill = z.object({ ...base, kind: z.literal('enforce.kill'), what: z.enum(['exec', 'connect']), intent: z.string(), detail: z.string() });
export const Loss = z.object({ ...base, kind: z.literal('loss'), events: z.number().int().nonnegative(), source: z.string() });

/** A process that existed before monitoring began, read from /proc; or, at the start of a later segment of a rotated recording, one the state knew. */
export const SnapshotProcess = z.object({
  ...base,
  kind: z.literal('snapshot.process'),
  ppid: z.number().int(),
  comm: z.string(),
  exe: z.string().optional(),
  argv: z.array(z.string()),
  cwd: z.string().optional(),
  /** Its process tree (the pid of its topmost ancestor in the same cgroup), when the state knew it. */
  tree: z.number().int().optional(),
});
/** A descriptor that was open before monitoring began, read from /proc/PID/fd and fdinfo; or, at the start of a later segment of a rotated recording, one the state knew. */
export const SnapshotFd = z.object({
  ...base,
  kind: z.literal('snapshot.fd'),
  fd,
  obj: objOrNull,
  target: z.string(),
  flags: z.number().int(),
  object_type: ObjectType,
  family: Family.optional(),
  local: Endpoint.optional(),
  peer: Endpoint.optional(),
  peer_obj: objOrNull.optional(),
  /** The object's path when it is not `target` (a memfd's name, a file of unknown type). */
  path: z.string().optional(),
  /** The file's first name when `path` is a later one (segments: the state's `aka`). */
  aka: z.string().optional(),
  sock_type: z.number().int().optional(),
  /** A socket made by accept(2). */
  accepted: z.literal(true).optional(),
  /** The open flags were never seen (`flags` then holds O_CLOEXEC at most). */
  flags_unknown: z.literal(true).optional(),
});
/** Names a cgroup id the first time it is seen, so a trace is self-describing. */
export const TaskCgroup = z.object({ ...base, kind: z.literal('task.cgroup'), path: z.string(), task: z.string() });
/** A cgroup was removed (a sandbox is gone), named as its task.cgroup named it: what was kept about the cgroup can go (the task lives on if other cgroups share its name). pid and tid are 0. */
export const TaskCgroupGone = z.object({ ...base, kind: z.literal('task.cgroup_gone'), path: z.string(), task: z.string() });

export const Event = z.discriminatedUnion('kind', [
  ProcessSeen, ProcessFork, ProcessExec, ProcessComm, ProcessExit, ProcessChdir, ProcessVm, ProcessCompatSyscall,
  FileOpen, FileMemfd, FilePath2, FileUnlink, FileXattr,
  FdDup, FdFcntl, FdClose, FdCloseRange, FdPipe, FdSocket, FdSocketpair, FdRights, FdGetfd,
  NetAddr, NetAccept, NetDest,
  MemMap, MemUnmap, MemRemap,
  Io, IoXfer, EnforceKill, Loss, SnapshotProcess, SnapshotFd, TaskCgroup, TaskCgroupGone,
]);
export type Event = z.infer<typeof Event>;

const isEvent = compileFastValidator(Event);

/**
 * Validates one canonical event from outside (a trace line, an agent's
 * event): the check compiled from `Event` first, whose yes means the value
 * is usable as it is; zod for everything else, which accepts it or says
 * precisely what is wrong.
 */
export function checkEvent(v: unknown): z.ZodSafeParseResult<Event> {
  return isEvent?.(v) ? { success: true, data: v as Event } : Event.safeParse(v);
}
export type EventKind = Event['kind'];

/** Whether the event carries what the state attaches (`res`, `abs`, `proc`): it is then more than the trace recorded. */
export function carriesResolution(ev: Event): boolean {
  return ev.res !== undefined || ev.abs !== undefined || ev.proc !== undefined;
}
export type EventOf<K extends EventKind> = Extract<Event, { kind: K }>;
