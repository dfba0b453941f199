import type { Event, EventOf } from '../schema/event.js';
import { syscallName, uringOpName } from '../util/syscalls.js';
import { int32, kernelObjId } from './common.js';
import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

/** The first call of an I/O run, with the fd's kernel object (dev, ino): from IO, IOD and RDCL records and the @pr dump. */
export function firstCall(ts: number, cgroup: number, pid: number, tid: number, dir: 'in' | 'out', nr: number, fd: number, bytes: number, dev: number, ino: number): EventOf<'io'> {
  return { ts, cgroup, pid, tid, kind: 'io', dir, syscall: syscallName(nr), fd: int32(fd), bytes, calls: 1, ts_first: ts, obj: kernelObjId(dev, ino) };
}

/** IO (and IOD): the first call of an I/O run. */
export function decodeIo(rec: RawRecord, ctx: DecodeContext): EventOf<'io'> {
  const n = rec.n;
  return firstCall(ctx.ts(rec), n[1]!, n[2]!, n[3]!, n[4] === 0 ? 'in' : 'out', n[5]!, n[6]!, n[7]!, n[8]!, n[9]!);
}

export function decodeXfer(rec: RawRecord, ctx: DecodeContext): EventOf<'io.xfer'> {
  const ts = ctx.ts(rec);
  return {
    ts, cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'io.xfer',
    syscall: syscallName(rec.n[4]!),
    fd_in: int32(rec.n[5]!),
    fd_out: int32(rec.n[6]!),
    bytes: rec.n[7]!,
    calls: 1,
    ts_first: ts,
    obj_in: kernelObjId(rec.n[8]!, rec.n[9]!),
    obj_out: kernelObjId(rec.n[10]!, rec.n[11]!),
  };
}

/** The summed rest of a run (calls after the first), flushed by the probe. */
export function decodeRun(rec: RawRecord, ctx: DecodeContext): EventOf<'io'> | EventOf<'io.xfer'> {
  const ts = ctx.ts(rec);
  const slot = rec.n[4]!;
  const syscall = syscallName(rec.n[5]!);
  const fd = int32(rec.n[6]!);
  const tsFirst = ctx.rel(String(rec.n[10]!), rec.n[10]!);
  if (slot === 2) {
    return {
      ts, cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
      kind: 'io.xfer',
      syscall,
      fd_in: fd,
      fd_out: int32(rec.n[7]!),
      bytes: rec.n[9]!,
      calls: rec.n[8]!,
      ts_first: tsFirst,
      obj_in: null,
      obj_out: null,
    };
  }
  return {
    ts, cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'io',
    dir: slot === 0 ? 'in' : 'out',
    syscall,
    fd,
    bytes: rec.n[9]!,
    calls: rec.n[8]!,
    ts_first: tsFirst,
    obj: null,
  };
}

/**
 * RDCL: a read the probe kept (its first call), the rest of its run and the
 * descriptor's close, printed as one record at the close. Yields the events
 * the three records would have: the first call, the summed rest (if any)
 * and the close, each at its own time.
 */
export function decodeReadClose(rec: RawRecord, ctx: DecodeContext, emit: (e: Event) => void): void {
  const n = rec.n;
  const cgroup = n[1]!;
  const pid = n[2]!;
  const tid = n[3]!;
  const first = firstCall(ctx.ts(rec), cgroup, pid, tid, 'in', n[4]!, n[5]!, n[6]!, n[7]!, n[8]!);
  const { syscall, fd } = first;
  emit(first);
  const calls = n[9]!;
  if (calls > 0) {
    emit({
      ts: ctx.rel(String(n[12]!), n[12]!), cgroup, pid, tid, kind: 'io', dir: 'in', syscall, fd,
      bytes: n[10]!, calls, ts_first: ctx.rel(String(n[11]!), n[11]!), obj: null,
    });
  }
  emit({ ts: ctx.rel(String(n[13]!), n[13]!), cgroup, pid, tid, kind: 'fd.close', fd, ret: int32(n[14]!) });
}

/**
 * UBLIND: an io_uring op of a watched process that moved data or made an
 * object in a way the probe cannot follow (see the io_uring section of
 * probes/chainwatch.bt). Reported as one lost event, source `io_uring.OP`:
 * what chainwatch could not see is counted and shown, never silent.
 */
export function decodeUringBlind(rec: RawRecord, ctx: DecodeContext): EventOf<'loss'> {
  const n = rec.n;
  // 256 + opcode: the op's control data (a ring sendmsg's SCM_RIGHTS), the op itself followed
  const op = n[4]!;
  const source = op >= 256 ? `io_uring.${uringOpName(op - 256)}.control` : `io_uring.${uringOpName(op)}`;
  return { ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!, kind: 'loss', events: 1, source };
}

/** URUN: the summed rest of an io_uring run (no descriptor: the run is on one object). */
export function decodeUringRun(rec: RawRecord, ctx: DecodeContext): EventOf<'io'> {
  const n = rec.n;
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'io',
    dir: n[4] === 3 ? 'in' : 'out',
    syscall: syscallName(n[5]!),
    fd: -1,
    bytes: n[7]!,
    calls: n[6]!,
    ts_first: ctx.rel(String(n[8]!), n[8]!),
    obj: kernelObjId(n[9]!, n[10]!),
  };
}
