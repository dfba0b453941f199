import type { Event, EventOf, ObjectView, ProcView } from '../schema/event.js';
import type { ChainHop } from '../schema/finding.js';
import { describeObject } from './describe-object.js';
import { leavesMachine, mappedSendSocket } from './egress.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * Data-flow following, per task. A process that reads an object of a
 * sensitive class becomes a *carrier* of that class; a carrier that writes
 * into a pipe, a unix socket, a socketpair or a file *marks* that channel;
 * a process that later reads a marked channel becomes a carrier too. An
 * in-kernel copy (sendfile, splice, tee, copy_file_range) moves marks from
 * its input to its output with no process in between. Fork passes the
 * parent's carried data to the child (same memory); exec keeps it (argv and
 * the environment can carry it). When carried or copied data reaches a
 * network socket, the tracker reports a *transmit*.
 *
 * Shared memory (MAP_SHARED mappings of a file, a memfd, or anonymous memory
 * shared with forked children) moves data with no syscall at all: a process
 * is *linked* to every object it maps shared. Whatever a linked process
 * comes to carry, it can write there (when the mapping is or can be made
 * writable), so the object is marked; whatever marks the object, every
 * process linked to it can read, so each becomes a carrier. Links are
 * inherited by fork; munmap takes its range out of them (a mapping unmapped
 * piece by piece ends with its last page), and exec and exit end them.
 * A child made with CLONE_VM (vfork, posix_spawn, clone) runs in its
 * parent's memory until it execs or exits: the two are linked the same way
 * (channel `vm:PARENT`), so what the child reads before its exec, the
 * parent holds.
 *
 * Marks are keyed by the kernel channel alone: a secret staged by one
 * sandbox in a shared file and sent by another is one chain (its hops show
 * both tasks); tasks that share no object never share a chain. Bounded:
 * carriers go with their process; marks are kept for the most recent
 * `maxMarks` channels (files stay marked for staging across processes and
 * time).
 */

export interface Taint {
  cls: string;
  sourcePath: string;
  sourceObj: string;
  /** ts of the first read of the sensitive source. */
  firstReadTs: number;
  bytesRead: number;
  hops: ChainHop[];
  /** The data rested in a file on its way (staging). */
  viaFile: boolean;
  /**
   * When, and by which thread, its holder (a carrier process, a marked
   * channel) came to hold it: the first call of the read or write that
   * moved it there. Set when it is stored (see couldMove).
   */
  heldSince?: number;
  heldBy?: number;
}

/** Who sent, and when: the writing process, or (a socket's memory mapped into it) the mapper that came to hold the data. */
export interface Sender {
  ts: number;
  pid: number;
  tid: number;
  cgroup: number;
  proc?: ProcView | undefined;
}

export interface Transmit extends Sender {
  taint: Taint;
  sink: ObjectView;
  bytes: number;
  /** Chain identity: same task, class, source and sink channel. */
  key: string;
}

/** A shared mapping of one process: the memory it shares with every other mapper of `view`'s channel. */
interface MemLink {
  addr: number;
  end: number;
  view: ObjectView;
  /** Writable now or after an mprotect: anonymous, or a file opened read-write (or with unknown flags). */
  write: boolean;
  /** The mapper's name, for the hops of data it takes. */
  comm: string;
  /** The mapper as the state described it when it mapped (the sender, when the mapping is of a socket's memory). */
  proc: ProcView | undefined;
  cgroup: number;
}

export interface FlowStats {
  carriers: number;
  /** Shared mappings followed (a process linked to memory other processes may map). */
  sharedMappings: number;
  /** Shared mappings not followed because their process already had the most the tracker keeps: a blind spot, never silent. */
  mappingsOverBound: number;
  /** Channels holding marks (dormant ones included). */
  marks: number;
  /** Marked channels no descriptor points at any more (a closed pipe, both ends of a socket pair closed): dropped first at the bound. */
  dormantMarks: number;
  /** Dormant marks dropped to stay within the bound (nothing watched could read them). */
  dormantDropped: number;
  /** Live marks dropped to stay within the bound: data the tracker no longer follows. Non-zero means a blind spot; never silent. */
  marksEvicted: number;
  transmits: number;
}

const MAX_HOPS = 32;
/**
 * A blocked reader of a pipe or unix socket is woken by the write and can
 * leave read(2), and be stamped, before the writer leaves write(2) on another
 * CPU: in kernel time order the read comes first. A read of such a channel
 * by another process at most this long before a marking write also takes
 * the mark (the conservative reading: the data may be this write's).
 */
const WAKE_RACE_NS = 5_000_000;
const RECENT_READS_PER_CHANNEL = 4;
/** Shared mappings followed per process (a database may map thousands of segments; past this, counted). */
const MAX_LINKS_PER_PROCESS = 4096;
const PROT_WRITE = 2;
/** The kernel maps and unmaps whole pages: lengths are rounded up to the smallest page size. */
const PAGE = 4096;
const pages = (len: number): number => Math.ceil(len / PAGE) * PAGE;
const CLONE_VM = 0x100;
/** The channel of a process' own memory, which CLONE_VM children share until they exec. */
const VM_CHANNEL = 'vm:';
const O_ACCMODE = 3;
const O_RDWR = 2;
const MAX_RECENT_CHANNELS = 4096;
/** Dormant marks kept at most (oldest dropped first, counted): they matter only if a process outside the watch passes the channel back. */
const MAX_DORMANT_MARKS = 10_000;

/**
 * Could a read or write of thread `tid` whose last call ended at `ts` have
 * moved data its holder has held since `t.heldSince`? Not if it was over
 * by then (a run's sum reaches us after later events of its process, so
 * arrival order does not say this). Exact on the holder's own thread, whose
 * calls come in order; on any other thread with the wake-up race's margin,
 * since every call is stamped when it returns.
 */
function couldMove(t: Taint, ts: number, tid: number): boolean {
  if (t.heldSince === undefined || ts >= t.heldSince) return true;
  return tid !== t.heldBy && t.heldSince - ts <= WAKE_RACE_NS;
}


/** `/proc/PID/mem` (or a thread's, `/proc/PID/task/TID/mem`): another process' memory, read or written like a file. */
const PROC_MEM = /^\/proc\/(\d+)\/(?:task\/\d+\/)?mem$/;

/** The process whose memory `v` is, if it is a /proc/PID/mem file. */
function memoryOf(v: ObjectView): number | undefined {
  if (v.path === undefined || !v.path.startsWith('/proc/')) return undefined;
  const m = PROC_MEM.exec(v.path);
  return m === null ? undefined : Number(m[1]);
}

/** Where data can rest or pass and be picked up by another reader. */
function canCarry(v: ObjectView): boolean {
  return v.type === 'pipe' || v.type === 'file' || v.type === 'memfd' || (v.type === 'socket' && v.family === 'unix');
}

export class FlowTracker {
  /** pid → taint key → taint */
  private readonly carriers = new Map<number, Map<string, Taint>>();
  /** channel → taint key → taint (insertion order = age, for eviction) */
  private readonly marks = new Map<string, Map<string, Taint>>();
  private readonly marksOrder = new OldestFirst(this.marks);
  /** channel → the last reads of it (pipes and unix sockets), for the wake-up race */
  private readonly recentReads = new Map<string, { pid: number; tid: number; ts: number; hop: ChainHop }[]>();
  private readonly recentReadsOrder = new OldestFirst(this.recentReads);
  /** Marked channels whose objects every watched descriptor has closed (oldest first): dropped before any live mark. */
  private readonly dormant = new Set<string>();
  private readonly dormantOrder = new OldestFirst(this.dormant);
  /** pid → its shared mappings */
  private readonly links = new Map<number, MemLink[]>();
  /** channel → pid → how many of its shared mappings are of that channel */
  private readonly mappers = new Map<string, Map<number, number>>();
  private linkCount = 0;
  private mappingsOverBound = 0;
  private dormantDropped = 0;
  private marksEvicted = 0;
  /** Transmits through mapped socket memory found while following the event being observed (see `carry`). */
  private pending: Transmit[] = [];
  transmits = 0;

  constructor(
    private classify: (path: string) => readonly string[],
    private readonly maxMarks = 200_000,
    /** Classes a server reads to serve (its TLS key), for this task: data sent on accepted connections does not count as them leaving. */
    private readToServe: (cls: string, task: string) => boolean = () => false,
    /**
     * The task of a live process, undefined when it is outside the watch (the
     * state's answer): data written into the memory of a process outside the
     * task has left it. Without it, such writes only make the target a carrier.
     */
    private readonly taskOfPid?: (pid: number) => string | undefined,
  ) {}

  /**
   * Reloaded data classes: reads from now on are classified by them. Data
   * already followed keeps the class it was read as (a carrier of `secret`
   * stays one until its chain ends).
   */
  useClasses(classify: (path: string) => readonly string[], readToServe: (cls: string, task: string) => boolean): void {
    this.classify = classify;
    this.readToServe = readToServe;
  }

  stats(): FlowStats {
    return {
      carriers: this.carriers.size,
      sharedMappings: this.linkCount,
      mappingsOverBound: this.mappingsOverBound,
      marks: this.marks.size,
      dormantMarks: this.dormant.size,
      dormantDropped: this.dormantDropped,
      marksEvicted: this.marksEvicted,
      transmits: this.transmits,
    };
  }

  /**
   * The state closed the last watched descriptor of a channel (a pipe, a
   * socket pair, a memfd). Its marks stay, dormant: a process outside the
   * watch may still hold it and pass it back, but they are the first to go
   * when the marks reach their bound.
   */
  channelGone(channel: string): void {
    // still mapped: readable through memory with no descriptor
    if (this.marks.has(channel) && !this.mappers.has(channel)) {
      this.dormant.delete(channel);
      this.dormant.add(channel);
      if (this.dormant.size > MAX_DORMANT_MARKS) this.dropOneMark();
    }
  }

  /** The sensitive data an object holds: its own class, or data marked into its channel (for descriptor passing). */
  sensitivityOf(v: ObjectView): { cls: string; sourcePath: string }[] {
    const out: { cls: string; sourcePath: string }[] = this.ownClasses(v);
    for (const t of this.marks.get(v.channel)?.values() ?? []) out.push({ cls: t.cls, sourcePath: t.sourcePath });
    return out;
  }

  /**
   * The classes of a file by its names: the one it is open under and its
   * first one (`aka`: a secret linked or renamed to an ordinary name is
   * still the secret), each class once, named by the path that gave it.
   */
  private ownClasses(v: ObjectView): { cls: string; sourcePath: string }[] {
    const out: { cls: string; sourcePath: string }[] = [];
    if (v.type === 'socket') return out;
    if (v.path !== undefined) for (const cls of this.classify(v.path)) out.push({ cls, sourcePath: v.path });
    if (v.aka !== undefined) for (const cls of this.classify(v.aka)) if (!out.some((o) => o.cls === cls)) out.push({ cls, sourcePath: v.aka });
    return out;
  }

  observe(ev: Event): Transmit[] {
    const out = this.observeOne(ev);
    if (this.pending.length === 0) return out;
    const mapped = this.pending;
    this.pending = [];
    return out.length === 0 ? mapped : [...out, ...mapped];
  }

  private observeOne(ev: Event): Transmit[] {
    switch (ev.kind) {
      case 'io':
        return ev.dir === 'in' ? this.onRead(ev) : this.onWrite(ev);
      case 'io.xfer':
        return this.onXfer(ev);
      case 'file.xattr':
        this.onXattr(ev);
        return [];
      case 'process.fork':
        if (!ev.thread) {
          this.onFork(ev);
          this.forkLinks(ev);
        }
        return [];
      case 'process.exec':
        // a new image: no mapping survives exec
        this.unlinkAll(ev.pid);
        return [];
      case 'mem.map':
        this.onMap(ev);
        return [];
      case 'mem.unmap':
        this.onUnmap(ev);
        return [];
      case 'mem.remap':
        this.onRemap(ev);
        return [];
      case 'process.vm':
        return this.onProcessVm(ev);
      case 'process.exit':
        if (ev.group_dead) {
          this.carriers.delete(ev.pid);
          this.unlinkAll(ev.pid);
        }
        return [];
      default:
        return [];
    }
  }

  private hop(ev: Event, syscall: string, fd: number, v: ObjectView, bytes: number): ChainHop {
    return { pid: ev.pid, comm: ev.proc?.comm ?? '?', syscall, fd, object: describeObject(v), ts_ns: ev.ts, bytes };
  }

  /** Reading `v` can yield something: it is of a sensitive class or its channel is marked (what taintsOf looks at). */
  private mayTaint(v: ObjectView): boolean {
    return (
      this.marks.has(v.channel) ||
      (v.type !== 'socket' && ((v.path !== undefined && this.classify(v.path).length > 0) || (v.aka !== undefined && this.classify(v.aka).length > 0)))
    );
  }

  /** What reading `v` yields: its own class if it is sensitive, plus whatever marks its channel. */
  private taintsOf(v: ObjectView, tsFirst: number, bytes: number, hop: ChainHop, ts: number, tid: number): Taint[] {
    const out: Taint[] = [];
    for (const { cls, sourcePath } of this.ownClasses(v)) {
      out.push({ cls, sourcePath, sourceObj: v.id, firstReadTs: tsFirst, bytesRead: bytes, hops: [hop], viaFile: false });
    }
    const marked = this.marks.get(v.channel);
    if (marked !== undefined) {
      for (const t of marked.values()) if (couldMove(t, ts, tid)) out.push({ ...t, hops: appendHop(t.hops, hop), viaFile: t.viaFile || v.type === 'file' });
    }
    return out;
  }

  /**
   * `pid` holds `taints` from `since` (the first call that moved them, by
   * thread `tid`) on; what is new to it also goes into the shared memory it
   * can write.
   */
  private carry(pid: number, taints: Taint[], since: number, tid: number): void {
    if (taints.length === 0) return;
    let c = this.carriers.get(pid);
    if (c === undefined) {
      c = new Map();
      this.carriers.set(pid, c);
    }
    let added: Taint[] | undefined;
    for (const t of taints) {
      const k = `${t.cls}|${t.sourceObj}`;
      const had = c.get(k);
      if (had === undefined) {
        const held = { ...t, heldSince: since, heldBy: tid };
        c.set(k, held);
        (added ??= []).push(held);
      } else {
        if (t.hops.length === 1) had.bytesRead += t.bytesRead; // another direct read of the source: count its bytes
        if (had.heldSince !== undefined && since < had.heldSince) [had.heldSince, had.heldBy] = [since, tid];
      }
    }
    const links = this.links.get(pid);
    if (added === undefined || links === undefined) return;
    let sentTo: Set<string> | undefined;
    for (const l of links) {
      if (!l.write) continue;
      if (leavesMachine(l.view)) {
        // one socket's rings are several mappings (TX, completion): one send of what is new
        if (sentTo?.has(l.view.channel) === true) continue;
        (sentTo ??= new Set()).add(l.view.channel);
        this.sendThroughMapping(l, { ts: since, pid, tid, cgroup: l.cgroup, proc: l.proc }, added, -1);
        continue;
      }
      this.mark(l.view, added, linkHop(pid, l, 'mapped.write', since), since, tid, pid);
    }
  }

  /**
   * Marks `v`'s channel with `taints` (written there by process `writer`);
   * what is new to it reaches every other process that maps it shared.
   */
  private mark(v: ObjectView, taints: Iterable<Taint>, hop: ChainHop, since: number, tid: number, writer: number): void {
    const key = v.channel;
    let m = this.marks.get(key);
    if (m === undefined) {
      if (this.marks.size >= this.maxMarks) this.dropOneMark();
      m = new Map();
      this.marks.set(key, m);
    } else if (this.dormant.size > 0) this.dormant.delete(key);
    let added: Taint[] | undefined;
    for (const t of taints) {
      const k = `${t.cls}|${t.sourceObj}`;
      if (m.has(k)) continue;
      const marked = { ...t, hops: appendHop(t.hops, hop), viaFile: t.viaFile || v.type === 'file', heldSince: since, heldBy: tid };
      m.set(k, marked);
      (added ??= []).push(marked);
    }
    const mappers = this.mappers.get(key);
    if (added === undefined || mappers === undefined) return;
    for (const pid of mappers.keys()) {
      if (pid === writer) continue;
      const l = this.links.get(pid)?.find((x) => x.view.channel === key);
      if (l === undefined) continue;
      const read = linkHop(pid, l, 'mapped.read', since);
      this.carry(pid, added.map((t) => ({ ...t, hops: appendHop(t.hops, read) })), since, tid);
    }
  }

  /** A shared mapping made: `pid` is linked to its object, and what it carries now may already be written there. */
  private onMap(ev: EventOf<'mem.map'>): void {
    const v = ev.res?.fd;
    if (v === undefined) return;
    // anonymous memory can always be made writable; a System V segment attached SHM_RDONLY cannot
    // a socket's memory (TX rings, TCP zero-copy receive) is writable only as mapped: the kernel refuses mprotect to more
    const write =
      v.type === 'shm' ? ev.shmid === undefined || (ev.prot & PROT_WRITE) !== 0
      : v.type === 'socket' ? (ev.prot & PROT_WRITE) !== 0
      : (ev.prot & PROT_WRITE) !== 0 || v.flags === undefined || (v.flags & O_ACCMODE) === O_RDWR;
    const l: MemLink = { addr: ev.addr, end: ev.addr + pages(ev.len), view: v, write, comm: ev.proc?.comm ?? '?', proc: ev.proc, cgroup: ev.cgroup };
    const sends = mappedSendSocket(ev) !== undefined;
    // a socket's memory already mapped writable: what the process carries has been sent to it (see `carry`)
    const sentAlready = sends && this.links.get(ev.pid)?.some((x) => x.write && x.view.channel === v.channel) === true;
    // a mapping made where others were (MAP_FIXED) replaces them there
    if (l.end > l.addr) for (const x of [...(this.links.get(ev.pid) ?? [])]) if (x.end > x.addr) this.cut(ev.pid, x, l.addr, l.end);
    if (!this.link(ev.pid, l)) return;
    // what the memory already holds (a file's mapping is also a read of the file, which takes its marks)
    const held = v.type === 'shm' ? this.marks.get(v.channel) : undefined;
    if (held !== undefined) {
      const read = linkHop(ev.pid, l, 'mapped.read', ev.ts);
      this.carry(ev.pid, [...held.values()].map((t) => ({ ...t, hops: appendHop(t.hops, read) })), ev.ts, ev.tid);
    }
    if (!write) return;
    const carried = this.carried(ev.pid, ev.ts, ev.tid);
    if (carried.length === 0) return;
    if (sends) {
      if (!sentAlready) this.sendThroughMapping(l, ev, carried, ev.fd);
      return;
    }
    this.mark(v, carried, linkHop(ev.pid, l, 'mapped.write', ev.ts, ev.fd), ev.ts, ev.tid, ev.pid);
  }

  /** The socket's own memory (an AF_XDP or packet TX ring) is mapped into the sender: what it holds can leave with no write(2), bytes unseen. */
  private sendThroughMapping(l: MemLink, sender: Sender, taints: Taint[], fd: number): void {
    this.pending.push(...this.transmit(sender, l.view, taints, linkHop(sender.pid, l, 'mapped.send', sender.ts, fd, 0), 0));
  }

  /**
   * munmap takes its range out of every mapping it overlaps: a mapping
   * wholly inside is gone, one cut at an end shrinks, one with a hole
   * punched in it is two. shmdt (length 0) detaches the System V segment
   * attached at that address; a segment (its length unknown) also goes
   * with an munmap over its address.
   */
  private onUnmap(ev: EventOf<'mem.unmap'>): void {
    const links = this.links.get(ev.pid);
    if (links === undefined) return;
    const from = ev.addr;
    const to = ev.addr + pages(ev.len);
    for (const l of [...links]) {
      if (l.end > l.addr) {
        if (to > from) this.cut(ev.pid, l, from, to);
      } else if (l.addr >= 0 && l.addr >= from && (l.addr < to || (ev.len === 0 && l.addr === from))) {
        // a System V attachment; the links of CLONE_VM children have no address (-1) and no munmap reaches them
        this.unlink(ev.pid, l);
      }
    }
  }

  /** [from, to) taken out of mapping `l` of `pid`: all of it, its head or tail, or a hole that leaves two mappings. */
  private cut(pid: number, l: MemLink, from: number, to: number): void {
    if (l.end <= from || l.addr >= to) return;
    if (l.addr >= from && l.end <= to) {
      this.unlink(pid, l);
      return;
    }
    if (l.addr < from && l.end > to) {
      const tail: MemLink = { ...l, addr: to };
      l.end = from;
      this.link(pid, tail);
      return;
    }
    if (l.addr < from) l.end = from;
    else l.addr = to;
  }

  /**
   * mremap of (part of) a mapping: the moved part leaves its old place and is
   * a mapping at the new one (a move in place is a resize); a copy (old
   * length 0, shared mappings only) leaves the original as it was.
   */
  private onRemap(ev: EventOf<'mem.remap'>): void {
    const l = this.links.get(ev.pid)?.find((x) => x.end > x.addr && x.addr <= ev.addr && ev.addr < x.end);
    if (l === undefined) return;
    const moved: MemLink = { ...l, addr: ev.new_addr, end: ev.new_addr + pages(ev.new_len) };
    if (ev.old_len !== 0) this.cut(ev.pid, l, ev.addr, ev.addr + pages(ev.old_len));
    this.link(ev.pid, moved);
  }

  /** False when `pid` has as many links as are kept (counted). */
  private link(pid: number, l: MemLink): boolean {
    let links = this.links.get(pid);
    if (links === undefined) this.links.set(pid, (links = []));
    if (links.length >= MAX_LINKS_PER_PROCESS) {
      this.mappingsOverBound++;
      return false;
    }
    links.push(l);
    this.linkCount++;
    let m = this.mappers.get(l.view.channel);
    if (m === undefined) this.mappers.set(l.view.channel, (m = new Map()));
    m.set(pid, (m.get(pid) ?? 0) + 1);
    return true;
  }

  private unlink(pid: number, l: MemLink): void {
    const links = this.links.get(pid);
    if (links === undefined) return;
    const i = links.indexOf(l);
    if (i < 0) return;
    links.splice(i, 1);
    if (links.length === 0) this.links.delete(pid);
    this.linkCount--;
    const m = this.mappers.get(l.view.channel);
    if (m === undefined) return;
    const n = (m.get(pid) ?? 1) - 1;
    if (n > 0) m.set(pid, n);
    else {
      m.delete(pid);
      if (m.size === 0) this.mappers.delete(l.view.channel);
    }
  }

  private unlinkAll(pid: number): void {
    const links = this.links.get(pid);
    if (links !== undefined) for (const l of [...links]) this.unlink(pid, l);
  }

  /** At the bound: the oldest dormant mark, else (counted: a blind spot) the oldest live one. */
  private dropOneMark(): void {
    const gone = this.dormantOrder.evict();
    if (gone !== undefined) {
      this.marks.delete(gone[0]);
      this.dormantDropped++;
      return;
    }
    this.marksOrder.evict();
    this.marksEvicted++;
  }

  private onRead(ev: EventOf<'io'>): Transmit[] {
    const v = ev.res?.fd;
    if (v === undefined || leavesMachine(v)) return [];
    const target = memoryOf(v);
    if (target !== undefined) {
      this.fromMemory(ev, target, this.hop(ev, ev.syscall, ev.fd, v, ev.bytes));
      return [];
    }
    const channel = v.type === 'pipe' || (v.type === 'socket' && v.family === 'unix');
    // most reads carry nothing: no hop is described for them
    if (!channel && !this.mayTaint(v)) return [];
    const hop = this.hop(ev, ev.syscall, ev.fd, v, ev.bytes);
    this.carry(ev.pid, this.taintsOf(v, ev.ts_first, ev.bytes, hop, ev.ts, ev.tid), ev.ts_first, ev.tid);
    if (channel) this.noteRead(v.channel, ev.pid, ev.tid, ev.ts, hop);
    return [];
  }

  /**
   * A read of another process' memory (/proc/PID/mem): whatever that
   * process carries (a secret it read to serve, say), the reader now holds.
   */
  /** process_vm_readv takes what the target carries; process_vm_writev gives it the caller's. */
  private onProcessVm(ev: EventOf<'process.vm'>): Transmit[] {
    if (ev.ret <= 0 || ev.target === ev.pid) return [];
    const hop: ChainHop = { pid: ev.pid, comm: ev.proc?.comm ?? '?', syscall: ev.syscall, fd: -1, object: `memory of pid ${ev.target}`, ts_ns: ev.ts, bytes: ev.ret };
    if (ev.dir === 'in') {
      this.fromMemory(ev, ev.target, hop);
      return [];
    }
    const carried = this.carried(ev.pid, ev.ts, ev.tid);
    if (carried.length === 0) return [];
    return this.intoMemory(ev, ev.target, carried, hop, ev.ts, ev.ret);
  }

  /**
   * What a carrier wrote into process `target`'s memory (process_vm_writev, a
   * ptrace poke, a write to /proc/PID/mem): the target carries it now, and
   * when the target is outside the task (outside the watch, or another
   * task's), the data has left, as if sent.
   */
  private intoMemory(ev: Sender & { proc?: ProcView }, target: number, carried: Taint[], hop: ChainHop, from: number, bytes: number): Transmit[] {
    this.carry(target, carried.map((t) => ({ ...t, hops: appendHop(t.hops, hop) })), from, ev.tid);
    if (this.taskOfPid === undefined) return [];
    const theirs = this.taskOfPid(target);
    if (theirs !== undefined && theirs === ev.proc?.task) return [];
    const where = theirs === undefined ? 'outside the watch' : `task ${theirs}`;
    const sink: ObjectView = { id: '0:0:0', type: 'anon', channel: `${VM_CHANNEL}${target}`, peer: { path: `memory of pid ${target}, ${where}` } };
    return this.transmit(ev, sink, carried, hop, bytes);
  }

  /** What `pid` carries that a call of thread `tid` ending at `ts` could have moved. */
  private carried(pid: number, ts: number, tid: number): Taint[] {
    const c = this.carriers.get(pid);
    if (c === undefined || c.size === 0) return [];
    return [...c.values()].filter((t) => couldMove(t, ts, tid));
  }

  private fromMemory(ev: EventOf<'io'> | EventOf<'process.vm'>, target: number, hop: ChainHop): void {
    if (target === ev.pid) return;
    const held = this.carried(target, ev.ts, ev.tid);
    this.carry(ev.pid, held.map((t) => ({ ...t, hops: appendHop(t.hops, hop), viaFile: false })), ev.kind === 'io' ? ev.ts_first : ev.ts, ev.tid);
  }

  private noteRead(channel: string, pid: number, tid: number, ts: number, hop: ChainHop): void {
    let r = this.recentReads.get(channel);
    if (r === undefined) {
      if (this.recentReads.size >= MAX_RECENT_CHANNELS) this.recentReadsOrder.evict();
      this.recentReads.set(channel, (r = []));
    }
    r.push({ pid, tid, ts, hop });
    if (r.length > RECENT_READS_PER_CHANNEL) r.shift();
  }

  /** Readers of `channel` by other processes just before this write (the wake-up race) take its marks too. */
  private racedReaders(channel: string, writer: number, ts: number): void {
    const reads = this.recentReads.get(channel);
    const marks = this.marks.get(channel);
    if (reads === undefined || marks === undefined) return;
    for (const r of reads) {
      if (r.pid === writer || r.ts > ts || ts - r.ts > WAKE_RACE_NS) continue;
      this.carry(r.pid, [...marks.values()].map((t) => ({ ...t, hops: appendHop(t.hops, r.hop) })), r.ts, r.tid);
    }
  }

  private onWrite(ev: EventOf<'io'>): Transmit[] {
    const v = ev.res?.fd;
    if (v === undefined) return [];
    // what the writer carried by the time of this write (a run's sum may arrive after the process read something)
    const carried = this.carried(ev.pid, ev.ts, ev.tid);
    if (carried.length === 0) return [];
    const hop = this.hop(ev, ev.syscall, ev.fd, v, ev.bytes);
    if (leavesMachine(v)) return this.transmit(ev, v, carried, hop, ev.bytes);
    const target = memoryOf(v);
    // written into another process' memory: that process now holds the data
    if (target !== undefined && target !== ev.pid) return this.intoMemory(ev, target, carried, hop, ev.ts_first, ev.bytes);
    if (canCarry(v)) {
      this.mark(v, carried, hop, ev.ts_first, ev.tid, ev.pid);
      this.racedReaders(v.channel, ev.pid, ev.ts);
    }
    return [];
  }

  /**
   * An extended attribute is a channel of its own (`xattr:OBJ`): a carrier
   * that sets one marks it, and whoever reads it carries what it was marked
   * with. Not the file's contents: the attributes of a secret are not the
   * secret (its class does not pass to them), and reading them is no read
   * of it.
   */
  private onXattr(ev: EventOf<'file.xattr'>): void {
    const id = ev.res?.fd?.id ?? ev.obj;
    if (ev.ret < 0 || id === null || id === undefined) return;
    const path = ev.res?.fd?.path ?? ev.abs?.path ?? ev.path;
    const v: ObjectView = { id, type: 'file', channel: `xattr:${id}` };
    const hop: ChainHop = { pid: ev.pid, comm: ev.proc?.comm ?? '?', syscall: ev.syscall, fd: ev.path === '' ? ev.fd : -1, object: `xattr of ${path === '' ? `file ${id}` : path}`, ts_ns: ev.ts, bytes: ev.bytes };
    if (ev.op === 'set') {
      const carried = this.carried(ev.pid, ev.ts, ev.tid);
      if (carried.length > 0) this.mark(v, carried, hop, ev.ts, ev.tid, ev.pid);
      return;
    }
    if (this.marks.has(v.channel)) this.carry(ev.pid, this.taintsOf(v, ev.ts, ev.bytes, hop, ev.ts, ev.tid), ev.ts, ev.tid);
  }

  private onXfer(ev: EventOf<'io.xfer'>): Transmit[] {
    const vin = ev.res?.fd_in;
    const vout = ev.res?.fd_out;
    if (vin === undefined || vout === undefined) return [];
    if (!this.mayTaint(vin)) return [];
    const inHop = this.hop(ev, ev.syscall, ev.fd_in, vin, ev.bytes);
    const taints = this.taintsOf(vin, ev.ts_first, ev.bytes, inHop, ev.ts, ev.tid);
    if (taints.length === 0) return [];
    const outHop = this.hop(ev, ev.syscall, ev.fd_out, vout, ev.bytes);
    if (leavesMachine(vout)) return this.transmit(ev, vout, taints, outHop, ev.bytes);
    if (canCarry(vout)) this.mark(vout, taints, outHop, ev.ts_first, ev.tid, ev.pid);
    return [];
  }

  private onFork(ev: EventOf<'process.fork'>): void {
    const parent = this.carriers.get(ev.pid);
    if (parent === undefined || parent.size === 0) return;
    const child = new Map<string, Taint>();
    for (const [k, t] of parent) {
      child.set(k, { ...t, hops: appendHop(t.hops, { pid: ev.child_tid, comm: ev.proc?.comm ?? '?', syscall: 'fork', fd: -1, object: `from pid ${ev.pid}`, ts_ns: ev.ts, bytes: 0 }) });
    }
    this.carriers.set(ev.child_tid, child);
  }

  /**
   * A forked child shares its parent's shared mappings (at the same
   * addresses). A CLONE_VM child shares all of its memory: it is linked to
   * the parent's own (and to whatever that was linked to); a child with a
   * copy of the memory is not.
   */
  private forkLinks(ev: EventOf<'process.fork'>): void {
    const sharesVm = (ev.clone_flags & CLONE_VM) !== 0;
    for (const l of [...(this.links.get(ev.pid) ?? [])]) {
      if (sharesVm || !l.view.channel.startsWith(VM_CHANNEL)) this.linkOnce(ev.child_tid, { ...l, proc: l.proc && { ...l.proc, ppid: ev.pid } });
    }
    if (!sharesVm) return;
    // outside any address range, so no munmap or shmdt can cut it; only exec and exit end it
    const view: ObjectView = { id: '0:0:0', type: 'shm', channel: `${VM_CHANNEL}${ev.pid}`, path: `memory of pid ${ev.pid}` };
    const comm = ev.proc?.comm ?? '?';
    this.linkOnce(ev.pid, { addr: -1, end: -1, view, write: true, comm, proc: ev.proc, cgroup: ev.cgroup });
    this.linkOnce(ev.child_tid, { addr: -1, end: -1, view, write: true, comm, proc: ev.proc && { ...ev.proc, ppid: ev.pid }, cgroup: ev.cgroup });
  }

  /** Links `pid` to `l`'s channel unless it already is (to one of its addresses). */
  private linkOnce(pid: number, l: MemLink): void {
    if (this.links.get(pid)?.some((x) => x.view.channel === l.view.channel && x.addr === l.addr) === true) return;
    this.link(pid, l);
  }

  private transmit(sender: Sender, sink: ObjectView, taints: Iterable<Taint>, hop: ChainHop, bytes: number): Transmit[] {
    const { ts, pid, tid, cgroup, proc } = sender;
    const task = proc?.task ?? '';
    const out: Transmit[] = [];
    for (const t of taints) {
      // a server answering on a connection it accepted, after reading the key it serves with: using it, not sending it
      if (sink.accepted === true && this.readToServe(t.cls, task)) continue;
      this.transmits++;
      out.push({ taint: { ...t, hops: appendHop(t.hops, hop) }, ts, pid, tid, cgroup, proc, sink, bytes, key: `${task}|${t.cls}|${t.sourceObj}|${sink.channel}` });
    }
    return out;
  }
}

/** A hop through a shared mapping `l` of process `pid` (no descriptor unless named; `bytes`: the mapping's length unless given). */
function linkHop(pid: number, l: MemLink, syscall: string, ts: number, fd = -1, bytes = l.end - l.addr): ChainHop {
  return { pid, comm: l.comm, syscall, fd, object: describeObject(l.view), ts_ns: ts, bytes };
}

function appendHop(hops: ChainHop[], hop: ChainHop): ChainHop[] {
  if (hops.length >= MAX_HOPS) return [...hops.slice(0, MAX_HOPS - 1), hop];
  return [...hops, hop];
}
