import type { EventOf } from '../schema/event.js';
import { ipv4Text, ipv6Text } from '../util/ip-text.js';
import { syscallName } from '../util/syscalls.js';
import { familyName, int32, kernelObjId } from './common.js';
import type { DecodeContext } from './context.js';
import type { RawRecord } from './raw-record.js';

/** connect(2) and bind(2): the address the process asked for. */
export function decodeAddr(rec: RawRecord, ctx: DecodeContext): EventOf<'net.addr'> {
  const family = familyName(rec.n[9]!);
  const dev = rec.n[7]!;
  const inet = family === 'inet' || family === 'inet6';
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'net.addr',
    op: syscallName(rec.n[4]!) === 'bind' ? 'bind' : 'connect',
    fd: int32(rec.n[5]!),
    ret: int32(rec.n[6]!),
    obj: kernelObjId(dev, rec.n[8]!),
    family,
    ...(inet ? { addr: rec.s, port: rec.n[10]! } : {}),
    ...(family === 'vsock' && /^\d+$/.test(rec.s) ? { addr: `cid:${rec.s}`, port: rec.n[10]! } : {}),
    ...(family === 'unix' ? { path: rec.s } : {}),
    peer_obj: kernelObjId(dev, rec.n[11]!),
  };
}

export function decodeAccept(rec: RawRecord, ctx: DecodeContext): EventOf<'net.accept'> {
  const ret = int32(rec.n[6]!);
  const dev = rec.n[7]!;
  const base = { ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!, kind: 'net.accept' as const, syscall: syscallName(rec.n[4]!), listen_fd: int32(rec.n[5]!), ret };
  if (ret < 0) return { ...base, obj: null, peer_obj: null };
  const family = familyName(rec.n[9]!);
  const inet = family === 'inet' || family === 'inet6';
  return {
    ...base,
    obj: kernelObjId(dev, rec.n[8]!),
    family,
    ...(inet ? { peer_addr: rec.s, peer_port: rec.n[10]!, local_port: rec.n[11]! } : {}),
    peer_obj: kernelObjId(dev, rec.n[12]!),
  };
}

/** UDEST: an io_uring send with a destination; the ring names its socket by kernel identity, not by descriptor. */
export function decodeUringDest(rec: RawRecord, ctx: DecodeContext): EventOf<'net.dest'> {
  const n = rec.n;
  const family = familyName(n[7]!);
  const obj = kernelObjId(n[5]!, n[6]!);
  return {
    ts: ctx.ts(rec), cgroup: n[1]!, pid: n[2]!, tid: n[3]!,
    kind: 'net.dest',
    fd: -1,
    ret: int32(n[4]!),
    family,
    addr: family === 'inet6' ? ipv6Text([n[9]!, n[10]!, n[11]!, n[12]!]) : ipv4Text(n[9]!),
    port: n[8]!,
    ...(obj !== null && { obj }),
  };
}

/** sendto/sendmsg with an explicit destination (datagrams). */
export function decodeDest(rec: RawRecord, ctx: DecodeContext): EventOf<'net.dest'> {
  const family = familyName(rec.n[6]!);
  return {
    ts: ctx.ts(rec), cgroup: rec.n[1]!, pid: rec.n[2]!, tid: rec.n[3]!,
    kind: 'net.dest',
    fd: int32(rec.n[4]!),
    ret: int32(rec.n[5]!),
    family,
    ...(family === 'unix' ? { path: rec.s } : { addr: rec.s, port: rec.n[7]! }),
  };
}
