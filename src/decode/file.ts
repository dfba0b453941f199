import type { EventOf } from '../schema/event.js';
import { syscallName } from '../util/syscalls.js';
import { fileTypeOf, int32, kernelObjId } from './common.js';
import type { DecodeContext } from './context.js';
import { PROBE_STRLEN } from '../util/probe-format.js';
import type { RawRecord } from './raw-record.js';

/** mq_open(2): its name is a queue's, which the mqueue filesystem shows under /dev/mqueue (one name, no other slash). */
const MQ_OPEN = 240;

export function decodeOpen(rec: RawRecord, ctx: DecodeContext): EventOf<'file.open'> {
  const ret = int32(rec.n[8]!);
  const nr = rec.n[4]!;
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'file.open',
    syscall: syscallName(nr),
    dirfd: int32(rec.n[5]!),
    path: nr === MQ_OPEN ? `/dev/mqueue/${rec.s.replace(/^\/+/, '')}` : rec.s,
    path_truncated: rec.s.length >= PROBE_STRLEN - 1,
    flags: rec.n[6]!,
    mode: rec.n[7]!,
    ret,
    obj: ret >= 0 ? kernelObjId(rec.n[9]!, rec.n[10]!) : null,
    file_type: ret >= 0 ? fileTypeOf(rec.n[11]!) : 'unknown',
  };
}

/** The bytes a probe read as 32-bit little-endian words, as hex: the first `n` of them. */
function wordsHex(words: number[], n: number): string {
  let hex = '';
  for (let i = 0; i < n; i++) hex += ((words[i >> 2]! >>> ((i & 3) * 8)) & 0xff).toString(16).padStart(2, '0');
  return hex;
}

/** How many handle bytes the probe reads (OPENH: ten 32-bit words). */
const HANDLE_WORDS = 10;

/**
 * OPENH: open_by_handle_at(2). No path: the handle the process passed
 * (type, length, and its first 40 bytes), from which the file is named.
 */
export function decodeOpenByHandle(rec: RawRecord, ctx: DecodeContext): EventOf<'file.open'> {
  const n = rec.n;
  const ret = int32(n[6]!);
  const bytes = n[11]!;
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'file.open',
    syscall: 'open_by_handle_at',
    dirfd: int32(n[4]!),
    path: '',
    path_truncated: false,
    flags: n[5]!,
    mode: 0,
    ret,
    obj: ret >= 0 ? kernelObjId(n[7]!, n[8]!) : null,
    file_type: ret >= 0 ? fileTypeOf(n[9]!) : 'unknown',
    handle: { type: int32(n[10]!), bytes, hex: wordsHex(n.slice(12, 12 + HANDLE_WORDS), Math.min(bytes, HANDLE_WORDS * 4)) },
  };
}

/**
 * UOPEN: an open done through io_uring. Its path (UPATH, printed at the
 * submission) may arrive before or after it: the event is returned when
 * the path is here, else held by the context until it comes (and returned
 * by decodeUringPath), or emitted with no path once it is stale.
 */
export function decodeUringOpen(rec: RawRecord, ctx: DecodeContext): EventOf<'file.open'> | null {
  const n = rec.n;
  const ret = int32(n[9]!);
  const ev: EventOf<'file.open'> = {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'file.open',
    syscall: syscallName(n[4]!),
    dirfd: int32(n[6]!),
    path: '',
    path_truncated: false,
    flags: n[7]!,
    mode: n[8]!,
    ret,
    obj: ret >= 0 ? kernelObjId(n[10]!, n[11]!) : null,
    file_type: ret >= 0 ? fileTypeOf(n[12]!) : 'unknown',
  };
  return ctx.uringOpen(n[5]!, ev) ? ev : null;
}

/** UPATH: an io_uring open's path; returns the open that waited for it, if any. */
export function decodeUringPath(rec: RawRecord, ctx: DecodeContext): EventOf<'file.open'> | null {
  return ctx.uringPath(rec.n[4]!, rec.s);
}

export function decodeMemfd(rec: RawRecord, ctx: DecodeContext): EventOf<'file.memfd'> {
  const ret = int32(rec.n[5]!);
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'file.memfd',
    name: rec.s,
    flags: rec.n[4]!,
    ret,
    obj: ret >= 0 ? kernelObjId(rec.n[6]!, rec.n[7]!) : null,
  };
}

const PATH2_OPS: Record<string, 'rename' | 'link' | 'symlink'> = {
  rename: 'rename', renameat: 'rename', renameat2: 'rename',
  link: 'link', linkat: 'link', symlink: 'symlink', symlinkat: 'symlink',
};

export function decodePath2(rec: RawRecord, ctx: DecodeContext): EventOf<'file.path2'> {
  const syscall = syscallName(rec.n[4]!);
  const [oldPath = '', newPath = ''] = ctx.takeStrings(rec.n[3]!);
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'file.path2',
    syscall,
    op: PATH2_OPS[syscall] ?? 'rename',
    old_dirfd: int32(rec.n[5]!),
    old_path: oldPath,
    new_dirfd: int32(rec.n[6]!),
    new_path: newPath,
    flags: rec.n[7]!,
    ret: int32(rec.n[8]!),
  };
}

export function decodeUnlink(rec: RawRecord, ctx: DecodeContext): EventOf<'file.unlink'> {
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'file.unlink',
    syscall: syscallName(rec.n[4]!),
    dirfd: int32(rec.n[5]!),
    path: rec.s,
    flags: rec.n[6]!,
    ret: int32(rec.n[7]!),
  };
}

/** Syscalls that set an extended attribute (the rest of XATTR's read one). */
const XATTR_SETS = new Set(['setxattr', 'lsetxattr', 'fsetxattr', 'setxattrat']);

/** XATTR: an extended attribute set or read. A path's file is named live (source/real-path.ts); a descriptor's own attributes carry its identity. */
export function decodeXattr(rec: RawRecord, ctx: DecodeContext): EventOf<'file.xattr'> {
  const n = rec.n;
  const syscall = syscallName(n[4]!);
  const set = XATTR_SETS.has(syscall);
  const ret = int32(n[7]!);
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'file.xattr',
    syscall,
    op: set ? 'set' : 'get',
    fd: int32(n[5]!),
    path: rec.s,
    bytes: set ? n[6]! : Math.max(ret, 0),
    ret,
    obj: rec.s === '' && n[9]! !== 0 ? kernelObjId(n[8]!, n[9]!) : null,
  };
}
