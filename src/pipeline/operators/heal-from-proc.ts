import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type { Event, EventOf, ObjId } from '../../schema/event.js';

/** Reads what a process' descriptor points at now (/proc), as a snapshot.fd event; undefined when it is gone. */
export type FdReader = (fd: number, base: { ts: number; cgroup: number; pid: number; tid: number }) => EventOf<'snapshot.fd'> | undefined;

export interface HealStats {
  /** Sockets and pipes first met in use whose descriptor /proc named (snapshot.fd inserted before the event). */
  healed: number;
  /** The process or descriptor was gone by the time it was looked up (the state knows that object by its identity alone). */
  gone: number;
  /** /proc showed another object at that descriptor than the kernel named (closed and reused since). */
  mismatched: number;
  /** Lookups left out to stay within the rate bound (the state heals those with an object of unknown type). */
  skipped: number;
}

export function newHealStats(): HealStats {
  return { healed: 0, gone: 0, mismatched: 0, skipped: 0 };
}

/** The (descriptor, kernel object) pairs an event uses. */
function usedFds(ev: Event): [number, ObjId | null][] {
  switch (ev.kind) {
    case 'io':
    case 'mem.map':
    case 'net.addr':
      return [[ev.fd, ev.obj]];
    case 'io.xfer':
      return [[ev.fd_in, ev.obj_in], [ev.fd_out, ev.obj_out]];
    default:
      return [];
  }
}

/** The socket and pipe objects an event makes known (made, accepted, passed in, taken, opened through /proc, or snapshot). */
function introduced(ev: Event): (ObjId | null)[] {
  switch (ev.kind) {
    case 'fd.socket':
    case 'fd.pipe':
    case 'net.accept':
    case 'fd.rights':
    case 'fd.getfd':
    case 'file.open':
    case 'snapshot.fd':
      return [ev.obj];
    case 'fd.socketpair':
      return ev.objs;
    default:
      return [];
  }
}

/** `MAJOR:MINOR:` of an object id. */
const devOf = (id: ObjId): string => id.slice(0, id.lastIndexOf(':') + 1);

/** Socket and pipe objects remembered as known (a busy host has a few thousand live; beyond this the oldest are forgotten and, met again, looked up once more). */
const MAX_KNOWN = 1 << 18;

/**
 * Live only. A socket or pipe no probe saw made (the process came into the
 * watch from outside: moved into a watched cgroup, its descriptors
 * inherited from an unwatched parent) is named by the kernel's identity of
 * its object alone, so the state would know it only as "something". When
 * such an object is first used, this reads the descriptor from /proc at
 * once (as the events arrive, a millisecond or so after the syscall, before
 * the reorder window: a descriptor closed right after its use is still
 * there) and inserts what it found, as the start-up snapshot does, as a
 * `snapshot.fd` just before the event (recorded like any event, so a replay
 * heals it the same way): the socket's family and addresses, the pipe. A
 * socket inherited from outside then counts as the way out it is, and a
 * unix socketpair (node's child stdio) as the local channel it is. The
 * answer is used only when /proc shows the very object the kernel named. At
 * most `perSecond` lookups a second.
 *
 * Which objects are sockets and pipes is learnt: the devices of the sockets
 * and pipes the events show made (sockfs, pipefs), of the files opened,
 * and, for a device none of them named yet, from the first lookup on it.
 */
export function healFromProc(read: FdReader, stats: HealStats, perSecond = 200, now: () => number = Date.now): MonoTypeOperatorFunction<Event> {
  /** Devices of sockets and pipes (sockfs, pipefs), and of everything else (filesystems, devices): a device neither names is classified by its first lookup. */
  const devs = new Set<string>();
  const otherDevs = new Set<string>();
  const known = new Set<ObjId>();
  let windowStart = 0;
  let used = 0;
  const remember = (id: ObjId): void => {
    if (known.size >= MAX_KNOWN) known.delete(known.values().next().value!);
    known.add(id);
  };
  return (source) =>
    new Observable<Event>((sub) =>
      source.subscribe({
        next(ev) {
          if (ev.kind === 'fd.socket' || ev.kind === 'fd.pipe' || ev.kind === 'fd.socketpair' || (ev.kind === 'snapshot.fd' && (ev.object_type === 'socket' || ev.object_type === 'pipe'))) {
            for (const id of introduced(ev)) if (id !== null) devs.add(devOf(id));
          }
          if (ev.kind === 'file.open' && ev.obj !== null && (ev.file_type === 'file' || ev.file_type === 'dir')) otherDevs.add(devOf(ev.obj));
          for (const id of introduced(ev)) if (id !== null && devs.has(devOf(id))) remember(id);
          for (const [fd, obj] of usedFds(ev)) {
            if (fd < 0 || obj === null || known.has(obj)) continue;
            const dev = devOf(obj);
            if (otherDevs.has(dev)) continue;
            remember(obj);
            const t = now();
            if (t - windowStart >= 1000) {
              windowStart = t;
              used = 0;
            }
            if (used >= perSecond) {
              stats.skipped++;
              continue;
            }
            used++;
            const snap = read(fd, { ts: ev.ts, cgroup: ev.cgroup, pid: ev.pid, tid: ev.pid });
            if (snap !== undefined && snap.obj === obj && !devs.has(dev)) {
              // the first object met on this device says what the device holds
              if (snap.object_type === 'socket' || snap.object_type === 'pipe') devs.add(dev);
              else {
                otherDevs.add(dev);
                continue;
              }
            }
            if (snap === undefined) stats.gone++;
            else if (snap.obj !== obj) stats.mismatched++;
            else {
              stats.healed++;
              sub.next(snap);
            }
          }
          sub.next(ev);
        },
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      }),
    );
}
