import type { EventOf } from '../schema/event.js';
import { int32, kernelObjId } from './common.js';
import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

/** MAP: a shared mapping made (fd -1 and no object: anonymous). */
export function decodeMap(rec: RawRecord, ctx: DecodeContext): EventOf<'mem.map'> {
  const n = rec.n;
  const fd = int32(n[8]!);
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'mem.map',
    addr: n[4]!, len: n[5]!, prot: n[6]!, flags: n[7]!,
    fd,
    obj: fd < 0 ? null : kernelObjId(n[9]!, n[10]!),
  };
}

const SHM_RDONLY = 0o10000;
const MAP_SHARED = 1;
const PROT_READ = 1;
const PROT_WRITE = 2;

/** SHMAT: a System V segment attached: a shared mapping of unknown length (0), read-only with SHM_RDONLY. */
export function decodeShmat(rec: RawRecord, ctx: DecodeContext): EventOf<'mem.map'> {
  const n = rec.n;
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'mem.map',
    addr: n[5]!, len: 0, prot: (n[6]! & SHM_RDONLY) !== 0 ? PROT_READ : PROT_READ | PROT_WRITE, flags: MAP_SHARED,
    fd: -1,
    obj: null,
    shmid: n[4]!,
    ipc_ns: n[7]!,
  };
}

/** UNMAP: munmap of a process that has shared mappings, or its shmdt (length 0). */
export function decodeUnmap(rec: RawRecord, ctx: DecodeContext): EventOf<'mem.unmap'> {
  const n = rec.n;
  return { ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!, kind: 'mem.unmap', addr: n[4]!, len: n[5]! };
}

/** REMAP: mremap of a process that has shared mappings. */
export function decodeRemap(rec: RawRecord, ctx: DecodeContext): EventOf<'mem.remap'> {
  const n = rec.n;
  return { ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!, kind: 'mem.remap', addr: n[4]!, old_len: n[5]!, new_addr: n[6]!, new_len: n[7]! };
}
