import type { EventOf } from '../schema/event.js';
import { syscallName } from '../util/syscalls.js';
import { fileTypeOf, int32, kernelObjId } from './common.js';
import { PROBE_STRLEN, type DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

export function decodeOpen(rec: RawRecord, ctx: DecodeContext): EventOf<'file.open'> {
  const ret = int32(rec.n[8]!);
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'file.open',
    syscall: syscallName(rec.n[4]!),
    dirfd: int32(rec.n[5]!),
    path: rec.s,
    path_truncated: rec.s.length >= PROBE_STRLEN - 1,
    flags: rec.n[6]!,
    mode: rec.n[7]!,
    ret,
    obj: ret >= 0 ? kernelObjId(rec.n[9]!, rec.n[10]!) : null,
    file_type: ret >= 0 ? fileTypeOf(rec.n[11]!) : 'unknown',
  };
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
