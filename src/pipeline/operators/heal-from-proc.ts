import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type { Event, EventOf, ObjId } from '../../schema/event.js';
import type { ProcessRead } from '../../source/proc-snapshot.js';
import { OldestFirst } from '../../util/oldest-first.js';

/**
 * Reads what a process' descriptor points at now (/proc), as a snapshot.fd
 * event; undefined when it is gone. With `fd` -1 (an io_uring operation,
 * which names the object, not the descriptor): the descriptor that points
 * at `obj`, if any.
 */
export type FdReader = (fd: number, base: { ts: number; cgroup: number; pid: number; tid: number }, obj: ObjId) => EventOf<'snapshot.fd'> | undefined;

/**
 * Reads a whole process from /proc (snapshot.process, then a snapshot.fd
 * per descriptor), as the start-up snapshot does; undefined when it is
 * gone. `argStart`, the record's name for the program it saw (process.seen),
 * lets the reader tell a later program (`later`).
 */
export type ProcessReader = (base: { ts: number; cgroup: number; pid: number; tid: number }, argStart: number | undefined) => ProcessRead | undefined;

export interface ProcReaders {
  fd: FdReader;
  process: ProcessReader;
}

export interface HealStats {
  /** Processes first seen with no fork in view (came into the watch from outside) that /proc described: command line, descriptors. */
  processes: number;
  /** Such processes gone before they could be read. */
  processesGone: number;
  /**
   * Such processes /proc showed running a later program than their record
   * named (another command line address or name: they had exec'd since, or
   * did while read): their descriptors were taken, not their program,
   * command line or executable, which are a later program's.
   */
  processesExeced: number;
  /** Sockets and pipes first met in use whose descriptor /proc named (snapshot.fd inserted before the event). */
  healed: number;
  /** A socket or pipe whose process or descriptor was gone by the time it was looked up (the state knows it by its identity alone). */
  gone: number;
  /** /proc showed another object at that descriptor than the kernel named (closed and reused since). */
  mismatched: number;
  /** Reads left out to stay within the rate bound (a process so left is not read; a descriptor, the state heals with an object of unknown type). */
  skipped: number;
}

export function newHealStats(): HealStats {
  return { processes: 0, processesGone: 0, processesExeced: 0, healed: 0, gone: 0, mismatched: 0, skipped: 0 };
}

/** `MAJOR:MINOR:` of an object id. */
const devOf = (id: ObjId): string => id.slice(0, id.lastIndexOf(':') + 1);

/** How long (stream time) a socket or pipe not found stays uncounted, in case the record of its making is still on its way. */
const GONE_AFTER_NS = 2e9;

/** Devices told apart (a host has a few dozen filesystems; beyond this, objects of other devices are each looked up once). */
const MAX_DEVICES = 256;

/** Socket and pipe objects remembered as known (a busy host has a few thousand live; beyond this the oldest are forgotten and, met again, looked up once more). */
const MAX_KNOWN = 1 << 18;

/**
 * Live only. A process first seen with no fork in view (it came into the
 * watch from outside: moved into a watched cgroup, or the child of an
 * unwatched parent) is read whole from /proc when its first record
 * arrives, as the start-up snapshot reads the processes there at start:
 * its command line, executable, working directory and every descriptor.
 *
 * And a socket or pipe no probe saw made and no snapshot named (one that
 * reached a process from outside after it was read, or one of a process
 * read too late) is named by the kernel's identity of its object alone,
 * so the state would know it only as "something". When such an object is
 * first used, this reads the descriptor from /proc at once (as the events
 * arrive, a millisecond or so after the syscall, not after the reorder
 * window; one gone even sooner is counted as `gone`, not named) and inserts
 * what it found, as the start-up snapshot does, as a
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
export function healFromProc(readers: ProcReaders, stats: HealStats, perSecond = 200, now: () => number = Date.now): MonoTypeOperatorFunction<Event> {
  const read = readers.fd;
  /** Processes the stream has described (start-up snapshot, a fork in view, or read here): not read again until they exit. */
  const described = new Set<number>();
  const describedOrder = new OldestFirst(described);
  const describe = (pid: number): void => {
    if (described.size >= MAX_KNOWN) describedOrder.evict();
    described.add(pid);
  };
  /**
   * Devices classified: of sockets and pipes (sockfs, pipefs), or of
   * anything else (filesystems, devices). A handful: matched by prefix,
   * with no string cut or hashed per event (this runs on every event).
   */
  const devices: { prefix: string; sockOrPipe: boolean }[] = [];
  const classOf = (id: ObjId): boolean | undefined => {
    for (const d of devices) if (id.startsWith(d.prefix)) return d.sockOrPipe;
    return undefined;
  };
  const classify = (id: ObjId, sockOrPipe: boolean): void => {
    const prefix = devOf(id);
    const d = devices.find((x) => x.prefix === prefix);
    if (d === undefined) {
      if (devices.length < MAX_DEVICES) devices.push({ prefix, sockOrPipe });
    } else if (sockOrPipe) d.sockOrPipe = true;
  };
  const known = new Set<ObjId>();
  const knownOrder = new OldestFirst(known);
  /**
   * Objects looked up and not found, by the time of their use: records come
   * here in the order each CPU's buffer delivers them, so a pipe's use can
   * arrive before the record of its making (another CPU). Counted as gone
   * only once nothing made them within GONE_AFTER_NS of the stream's time.
   */
  const goneAt = new Map<ObjId, number>();
  const settleGone = (upTo: number): void => {
    for (const [id, ts] of goneAt) {
      if (ts > upTo) continue;
      goneAt.delete(id);
      stats.gone++;
    }
  };
  let windowStart = 0;
  let used = 0;
  const remember = (id: ObjId): void => {
    if (known.size >= MAX_KNOWN) knownOrder.evict();
    known.add(id);
  };
  /** One more lookup within the rate bound, or false (counted). */
  const allowed = (): boolean => {
    const t = now();
    if (t - windowStart >= 1000) {
      windowStart = t;
      used = 0;
    }
    if (used >= perSecond) {
      stats.skipped++;
      return false;
    }
    used++;
    return true;
  };
  /** Before `ev` uses descriptor `fd` (kernel object `obj`): what /proc says of it, if it is a socket or pipe no event made known. */
  const use = (ev: Event, fd: number, obj: ObjId | null, emit: (e: Event) => void): void => {
    if (obj === null) return;
    const cls = classOf(obj);
    if (cls === false || known.has(obj)) return;
    remember(obj);
    if (!allowed()) return;
    const snap = read(fd < 0 ? -1 : fd, { ts: ev.ts, cgroup: ev.cgroup, pid: ev.pid, tid: ev.pid }, obj);
    if (cls === undefined) {
      // the first object found on a device no event has named says what the device holds; nothing found, nothing learnt
      if (snap === undefined || snap.obj !== obj) return;
      const sockOrPipe = snap.object_type === 'socket' || snap.object_type === 'pipe';
      classify(obj, sockOrPipe);
      if (!sockOrPipe) return;
    }
    if (snap === undefined) goneAt.set(obj, ev.ts);
    else if (snap.obj !== obj) stats.mismatched++;
    else {
      stats.healed++;
      emit(snap);
    }
  };
  /** An object made known: its device is learnt (`learn`: the event shows it is a socket's or pipe's), and it is remembered if it is one. */
  const made = (id: ObjId | null, learn: boolean): void => {
    if (id === null) return;
    // made after all: its record came from another CPU after the use
    goneAt.delete(id);
    if (learn) classify(id, true);
    if (classOf(id) === true) remember(id);
  };
  return (source) =>
    new Observable<Event>((sub) => {
      const emit = (e: Event): void => sub.next(e);
      /** What a snapshot.fd makes known (its object, its device when it is a socket's or pipe's). */
      const snapshotFd = (ev: EventOf<'snapshot.fd'>): void => made(ev.obj, ev.object_type === 'socket' || ev.object_type === 'pipe');
      return source.subscribe({
        next(ev) {
          if (goneAt.size > 0) settleGone(ev.ts - GONE_AFTER_NS);
          switch (ev.kind) {
            case 'process.seen':
              // first seen with no fork in view: it came from outside (moved into a watched cgroup, a child of an
              // unwatched parent); read it whole, as the start-up snapshot reads the processes there at start
              if (!described.has(ev.pid)) {
                describe(ev.pid);
                if (allowed()) {
                  const read = readers.process({ ts: ev.ts, cgroup: ev.cgroup, pid: ev.pid, tid: ev.pid }, ev.arg_start);
                  if (read === undefined) stats.processesGone++;
                  else {
                    stats.processes++;
                    // /proc shows the process as it is now: a later program than the record's (another command line
                    // address, or another name) has exec'd since (a shebang through /usr/bin/env, say), and its program
                    // would name the events from before that exec
                    const snap = read.events;
                    const later = read.later || snap.some((e) => e.kind === 'snapshot.process' && e.comm !== ev.comm);
                    if (later) stats.processesExeced++;
                    for (const e of snap) {
                      if (later && e.kind === 'snapshot.process') continue;
                      if (e.kind === 'snapshot.fd') snapshotFd(e);
                      sub.next(e);
                    }
                  }
                }
              }
              break;
            case 'snapshot.process':
              describe(ev.pid);
              break;
            case 'process.fork':
              if (!ev.thread) describe(ev.child_tid);
              break;
            case 'process.exit':
              if (ev.group_dead) described.delete(ev.pid);
              break;
            case 'io':
            case 'mem.map':
            case 'net.addr':
              use(ev, ev.fd, ev.obj, emit);
              break;
            case 'io.xfer':
              use(ev, ev.fd_in, ev.obj_in, emit);
              use(ev, ev.fd_out, ev.obj_out, emit);
              break;
            case 'fd.socket':
            case 'fd.pipe':
              made(ev.obj, true);
              break;
            case 'fd.socketpair':
              made(ev.objs[0], true);
              made(ev.objs[1], true);
              break;
            case 'snapshot.fd':
              snapshotFd(ev);
              break;
            case 'net.accept':
            case 'fd.rights':
            case 'fd.getfd':
              made(ev.obj, false);
              break;
            case 'file.open':
              // what open(2) opens lives on a filesystem or is a device (not a socket or a pipe opened through /proc/PID/fd,
              // which a pipe shows as a fifo: a named fifo's filesystem is told by the files opened there)
              if (ev.obj !== null && ev.file_type !== 'sock' && ev.file_type !== 'fifo' && ev.file_type !== 'unknown' && classOf(ev.obj) === undefined) classify(ev.obj, false);
              made(ev.obj, false);
              break;
            default:
          }
          sub.next(ev);
        },
        error: (e: unknown) => sub.error(e),
        complete: () => {
          settleGone(Number.POSITIVE_INFINITY);
          sub.complete();
        },
      });
    });
}
