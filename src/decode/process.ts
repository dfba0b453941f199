import type { EventOf } from '../schema/event.js';
import { ia32SyscallName, syscallName } from '../util/syscalls.js';
import { kernelObjId, int32 } from './common.js';
import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

const CLONE_THREAD = 0x10000;

export function decodeTask(rec: RawRecord, ctx: DecodeContext): EventOf<'process.seen'> {
  const ev: EventOf<'process.seen'> = { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'process.seen', ppid: rec.n[4]!, comm: rec.s };
  // a kernel thread has no program (no memory of its own): nothing to name
  if (rec.n[5]! !== 0) ev.arg_start = rec.n[5]!;
  return ev;
}

export function decodeFork(rec: RawRecord, ctx: DecodeContext): EventOf<'process.fork'> {
  const flags = rec.n[5]!;
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'process.fork',
    child_tid: rec.n[4]!,
    thread: (flags & CLONE_THREAD) !== 0,
    clone_flags: flags,
  };
}

export function decodeExec(rec: RawRecord, ctx: DecodeContext): EventOf<'process.exec'> {
  const oldTid = rec.n[4]!;
  const ts = ctx.ts(rec);
  // what has arrived so far; the pipeline completes it when the event is released (ProbeDecoder.completeExec)
  const args = ctx.execArgs.argvAt(oldTid, ts);
  const ev: EventOf<'process.exec'> = {
    ts, cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'process.exec',
    filename: rec.s,
    argv: args.argv,
    argv_truncated: args.argv_truncated,
    old_tid: oldTid,
    ppid: rec.n[5]!,
    exe_obj: kernelObjId(rec.n[6]!, rec.n[7]!),
  };
  return ev;
}

export function decodeComm(rec: RawRecord, ctx: DecodeContext): EventOf<'process.comm'> {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'process.comm', comm: rec.s };
}

export function decodeExit(rec: RawRecord, ctx: DecodeContext): EventOf<'process.exit'> {
  ctx.forget(rec.n[3]!);
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'process.exit', code: rec.n[4]!, group_dead: rec.n[5] === 1 };
}

export function decodeChdir(rec: RawRecord, ctx: DecodeContext): EventOf<'process.chdir'> {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'process.chdir', path: rec.s, ret: int32(rec.n[4]!) };
}

export function decodeFchdir(rec: RawRecord, ctx: DecodeContext): EventOf<'process.chdir'> {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'process.chdir', fd: int32(rec.n[4]!), ret: int32(rec.n[5]!) };
}

export function decodeString(rec: RawRecord, ctx: DecodeContext): null {
  ctx.pushString(rec.n[3]!, int32(rec.n[4]!), rec.s);
  return null;
}

export function decodeArg(rec: RawRecord, ctx: DecodeContext): null {
  ctx.execArgs.add(rec.n[3]!, int32(rec.n[4]!), rec.s, ctx.ts(rec));
  return null;
}

/** A kill by the probe's in-kernel policy enforcement. */
export function decodeKill(rec: RawRecord, ctx: DecodeContext): EventOf<'enforce.kill'> {
  const tab = rec.s.indexOf('\t');
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'enforce.kill',
    what: rec.n[4] === 2 ? 'connect' : 'exec',
    intent: tab < 0 ? rec.s : rec.s.slice(0, tab),
    detail: tab < 0 ? '' : rec.s.slice(tab + 1),
  };
}

/** CGRM: a cgroup was removed (path and task are filled in by the pipeline's nameTasks, which named the cgroup before). */
export function decodeCgroupGone(rec: RawRecord, ctx: DecodeContext): EventOf<'task.cgroup_gone'> {
  return { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: 0, tid: 0, kind: 'task.cgroup_gone', path: '', task: '' };
}

/** PVM: process_vm_readv (in) or process_vm_writev (out) on another process' memory. */
const PTRACE_MEMORY: Record<number, { name: string; dir: 'in' | 'out' }> = {
  1: { name: 'ptrace.peektext', dir: 'in' },
  2: { name: 'ptrace.peekdata', dir: 'in' },
  4: { name: 'ptrace.poketext', dir: 'out' },
  5: { name: 'ptrace.pokedata', dir: 'out' },
};

/** PTR: ptrace peeks (the target's memory read) and pokes (written), as process.vm events. */
export function decodePtrace(rec: RawRecord, ctx: DecodeContext): EventOf<'process.vm'> {
  const n = rec.n;
  return ptraceEvent(ctx.ts(rec), n[1]!, n[2]!, n[3]!, n[4]!, n[5]!, n[6]!);
}

/** A ptrace memory request's bytes as a process.vm event (also from the probe's @ptr dump at shutdown). */
export function ptraceEvent(ts: number, cgroup: number, pid: number, tid: number, request: number, target: number, bytes: number): EventOf<'process.vm'> {
  const req = PTRACE_MEMORY[request] ?? { name: `ptrace.request_${request}`, dir: 'in' as const };
  return { ts, cgroup, pid, tid, kind: 'process.vm', syscall: req.name, dir: req.dir, target: int32(target), ret: bytes };
}

/** I32: a thread's first 32-bit syscall (the tracepoints report none of them). */
export function decodeCompatSyscall(rec: RawRecord, ctx: DecodeContext): EventOf<'process.compat_syscall'> {
  const n = rec.n;
  return { ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!, kind: 'process.compat_syscall', nr: n[4]!, syscall: ia32SyscallName(n[4]!) };
}

export function decodeProcessVm(rec: RawRecord, ctx: DecodeContext): EventOf<'process.vm'> {
  const n = rec.n;
  const syscall = syscallName(n[4]!);
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'process.vm',
    syscall,
    dir: syscall === 'process_vm_writev' ? 'out' : 'in',
    target: int32(n[5]!),
    ret: int32(n[6]!),
  };
}
