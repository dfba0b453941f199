import type { ObjectView } from '../schema/event.js';

/**
 * A socket whose data leaves the machine (or the guest): IP, packet
 * sockets (raw frames: CAP_NET_RAW, which containers often keep) and vsock
 * (a Kata guest's way to its host). Unix and netlink sockets stay on the
 * machine. What the flow tracker calls a transmit and the baselines count
 * as bytes out.
 */
export function leavesMachine(v: ObjectView): boolean {
  return v.type === 'socket' && (v.family === 'inet' || v.family === 'inet6' || v.family === 'packet' || v.family === 'vsock');
}
