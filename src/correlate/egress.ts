import type { EventOf, Family, ObjectView } from '../schema/event.js';

/** Families whose sockets keep their data on this machine (or guest): unix, netlink (to the kernel), alg (the kernel's crypto API). */
const STAYS_LOCAL: ReadonlySet<Family> = new Set<Family>(['unix', 'netlink', 'alg']);

/**
 * A socket whose data may leave the machine (or the guest). Default-deny:
 * every family not known to stay local counts, so IP, packet sockets (raw
 * frames: CAP_NET_RAW, which containers often keep), vsock (a Kata guest's
 * way to its host), AF_XDP, bluetooth, CAN, TIPC, RDS, any family the model
 * does not name (`other`), and a socket whose family is unknown (one open
 * before monitoring whose family no /proc/net table showed). What the flow
 * tracker calls a transmit, the baselines count as bytes out, and the
 * policy's network capabilities must allow.
 */
export function leavesMachine(v: ObjectView): boolean {
  return v.type === 'socket' && (v.family === undefined || !STAYS_LOCAL.has(v.family));
}

const PROT_WRITE = 2;

/**
 * The socket a shared mapping sends from, if any: one that may leave the
 * machine, mapped writable (an AF_XDP socket's rings, a packet socket's
 * PACKET_TX_RING). Frames leave from that memory, kicked by a zero-byte
 * sendto or a poll: no write(2) carries them.
 */
export function mappedSendSocket(ev: EventOf<'mem.map'>): ObjectView | undefined {
  const v = ev.res?.fd;
  return v !== undefined && (ev.prot & PROT_WRITE) !== 0 && leavesMachine(v) ? v : undefined;
}

const FAMILY_TEXT: Partial<Record<Family, string>> = {
  packet: 'a packet socket (raw frames)',
  xdp: 'an AF_XDP socket (raw frames)',
  vsock: 'a vsock socket',
  bluetooth: 'a bluetooth socket',
  can: 'a CAN socket',
  tipc: 'a TIPC socket',
  rds: 'an RDS socket',
  netlink: 'a netlink socket',
  alg: 'an AF_ALG (kernel crypto) socket',
  inet: 'an unconnected inet socket',
  inet6: 'an unconnected inet6 socket',
  unix: 'an unnamed unix socket',
  other: 'a socket of a family chainwatch does not name',
};

/** How a finding or a violation names a socket that has no peer address: by its family. */
export function socketText(family: Family | undefined): string {
  return family === undefined ? 'a socket of unknown family' : (FAMILY_TEXT[family] ?? `a ${family} socket`);
}
