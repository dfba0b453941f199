import type { EventOf } from '../schema/event.js';
import { syscallName } from '../util/syscalls.js';
import { familyName, int32, kernelObjId } from './common.js';
import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

export function decodeDup(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.dup'> {
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'fd.dup',
    syscall: syscallName(rec.n[4]!),
    oldfd: int32(rec.n[5]!),
    newfd: int32(rec.n[6]!),
    flags: rec.n[7]!,
    ret: int32(rec.n[8]!),
  };
}

export function decodeFcntl(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.fcntl'> {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'fd.fcntl', fd: int32(rec.n[4]!), cmd: rec.n[5]!, arg: rec.n[6]!, ret: int32(rec.n[7]!) };
}

export function decodeClose(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.close'> {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'fd.close', fd: int32(rec.n[4]!), ret: int32(rec.n[5]!) };
}

export function decodeCloseRange(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.close_range'> {
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'fd.close_range',
    first: rec.n[4]!,
    last: rec.n[5]!,
    flags: rec.n[6]!,
    ret: int32(rec.n[7]!),
  };
}

export function decodePipe(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.pipe'> {
  const ret = int32(rec.n[5]!);
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'fd.pipe',
    flags: rec.n[4]!,
    ret,
    fds: [int32(rec.n[6]!), int32(rec.n[7]!)],
    obj: ret === 0 ? kernelObjId(rec.n[8]!, rec.n[9]!) : null,
  };
}

export function decodeSocket(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.socket'> {
  const ret = int32(rec.n[7]!);
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'fd.socket',
    family: familyName(rec.n[4]!),
    sock_type: rec.n[5]!,
    protocol: rec.n[6]!,
    ret,
    obj: ret >= 0 ? kernelObjId(rec.n[8]!, rec.n[9]!) : null,
  };
}

export function decodeSocketpair(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.socketpair'> {
  const ret = int32(rec.n[6]!);
  const dev = rec.n[9]!;
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'fd.socketpair',
    family: familyName(rec.n[4]!),
    sock_type: rec.n[5]!,
    ret,
    fds: [int32(rec.n[7]!), int32(rec.n[8]!)],
    objs: ret === 0 ? [kernelObjId(dev, rec.n[10]!), kernelObjId(dev, rec.n[11]!)] : [null, null],
  };
}

export function decodeRights(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.rights'> {
  const e: EventOf<'fd.rights'> = {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'fd.rights',
    dir: rec.n[4] === 1 ? 'send' : 'recv',
    sock_fd: int32(rec.n[5]!),
    index: rec.n[6]!,
    count: rec.n[7]!,
    fd: int32(rec.n[8]!),
    obj: kernelObjId(rec.n[9]!, rec.n[10]!),
  };
  if (rec.n[4] === 2) e.cloexec = true;
  if (rec.n[11]! > 0) e.family = familyName(rec.n[11]!);
  return e;
}

/** GETFD: a descriptor taken out of another process with pidfd_getfd. */
export function decodeGetfd(rec: RawRecord, ctx: DecodeContext): EventOf<'fd.getfd'> {
  const n = rec.n;
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'fd.getfd',
    pidfd: int32(n[4]!),
    target_fd: int32(n[5]!),
    target: int32(n[6]!),
    ret: int32(n[7]!),
    obj: kernelObjId(n[8]!, n[9]!),
  };
}

