import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { ipv4Text, ipv6Text } from '../util/ip-text.js';
import { objIdAt, statObjId } from '../util/obj-id.js';
import type { Endpoint, Event, EventOf, Family, ObjectType } from '../schema/event.js';

/**
 * Reads /proc once so processes and descriptors that existed before
 * monitoring began are known: a descriptor opened before the probes attached
 * still resolves to its file, pipe or socket. Yields canonical
 * `snapshot.process` and `snapshot.fd` events, so the state stage learns
 * from events only and a recorded trace replays the same picture.
 */

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  cgroupPath: string;
}

/** pid, ppid, comm and cgroup v2 path of one process; undefined when it is gone. */
export function readProcInfo(pid: number, procRoot = '/proc'): ProcInfo | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(open + 1, close);
    const rest = stat.slice(close + 2).split(' ');
    const ppid = Number(rest[1]);
    const cg = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    return { pid, ppid, comm, cgroupPath: cg === undefined ? '/' : cg.slice(3) };
  } catch {
    return undefined;
  }
}

export function listPids(procRoot = '/proc'): number[] {
  return readdirSync(procRoot)
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** The pids in `roots` and all their descendants, from /proc's ppid links. */
export function descendantsOf(roots: number[], procRoot = '/proc'): number[] {
  const children = new Map<number, number[]>();
  for (const pid of listPids(procRoot)) {
    const info = readProcInfo(pid, procRoot);
    if (info === undefined) continue;
    const list = children.get(info.ppid) ?? [];
    list.push(pid);
    children.set(info.ppid, list);
  }
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (out.has(p)) continue;
    out.add(p);
    stack.push(...(children.get(p) ?? []));
  }
  return [...out];
}

type SocketInfo = { family: Family; local?: Endpoint; peer?: Endpoint };

/** /proc/net/{tcp,udp}[6] print an address as its in-memory 32-bit words in hex. */
function hexWords(h: string): number[] {
  const words: number[] = [];
  for (let w = 0; w < h.length; w += 8) words.push(parseInt(h.slice(w, w + 8), 16));
  return words;
}

function endpoint(hex: string, v6: boolean): Endpoint {
  const [a = '', p = '0'] = hex.split(':');
  return { addr: v6 ? ipv6Text(hexWords(a)) : ipv4Text(parseInt(a, 16)), port: parseInt(p, 16) };
}

/** The rows of /proc/PID/net/FILE split into fields, header dropped; none when the table is missing in that namespace. */
function* netTable(procRoot: string, pid: number, file: string): Generator<string[]> {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/net/${file}`, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 1) yield f;
  }
}

const INET_TABLES = [['tcp', 'inet'], ['udp', 'inet'], ['udplite', 'inet'], ['raw', 'inet'], ['tcp6', 'inet6'], ['udp6', 'inet6'], ['udplite6', 'inet6'], ['raw6', 'inet6']] as const;

/** Socket inode → addresses, from /proc/PID/net/* (the process' network namespace). */
export function readSockets(pid: number, procRoot = '/proc'): Map<number, SocketInfo> {
  const map = new Map<number, SocketInfo>();
  for (const [file, family] of INET_TABLES) {
    for (const f of netTable(procRoot, pid, file)) {
      const ino = f.length >= 10 ? Number(f[9]) : 0;
      if (!ino) continue;
      const local = endpoint(f[1]!, family === 'inet6');
      const rem = endpoint(f[2]!, family === 'inet6');
      map.set(ino, { family, local, ...(rem.port !== 0 && { peer: rem }) });
    }
  }
  for (const f of netTable(procRoot, pid, 'unix')) {
    const ino = f.length >= 7 ? Number(f[6]) : 0;
    if (ino) map.set(ino, { family: 'unix', ...(f[7] !== undefined && { local: { path: f.slice(7).join(' ') } }) });
  }
  // families with no addresses here, only their inode (the last column): a socket none of these tables lists keeps no
  // family, and counts as one that may leave the machine (correlate/egress.ts)
  for (const family of ['packet', 'netlink'] as const) {
    for (const f of netTable(procRoot, pid, family)) {
      const ino = f.length >= 9 ? Number(f[f.length - 1]) : 0;
      if (ino > 0 && !map.has(ino)) map.set(ino, { family });
    }
  }
  return map;
}

function objectTypeOf(target: string, isDir: boolean, isChr: boolean): ObjectType {
  if (target.startsWith('socket:[')) return 'socket';
  if (target.startsWith('pipe:[')) return 'pipe';
  if (target.startsWith('anon_inode:')) return 'anon';
  if (target.startsWith('/memfd:')) return 'memfd';
  if (isDir) return 'dir';
  if (isChr) return 'device';
  return 'file';
}

/** The network namespace `pid` is in (a name to key its socket tables by). */
function netNamespace(root: string, pid: number): string {
  return tryLink(`${root}/${pid}/ns/net`) ?? `pid:${pid}`;
}

function tryLink(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

/**
 * What descriptor `fd` of `base.pid` points at, as a snapshot.fd event:
 * its target, kernel identity, open flags and, for a socket, its family and
 * addresses from the process' network namespace. Undefined when the
 * descriptor (or the process) is gone.
 */
export function describeFd(root: string, fd: number, base: { ts: number; cgroup: number; pid: number; tid: number }, sockets: () => Map<number, SocketInfo>): EventOf<'snapshot.fd'> | undefined {
  const pid = base.pid;
  const target = tryLink(`${root}/${pid}/fd/${fd}`);
  if (target === undefined) return undefined;
  let obj: string | null = null;
  let isDir = false;
  let isChr = false;
  let ino = 0;
  try {
    const st = statSync(`${root}/${pid}/fd/${fd}`, { bigint: true });
    obj = statObjId(st.dev, st.ino);
    ino = Number(st.ino);
    isDir = st.isDirectory();
    isChr = st.isCharacterDevice() || st.isBlockDevice();
  } catch {
    obj = null;
  }
  let flags = 0;
  try {
    const m = /flags:\s*([0-7]+)/.exec(readFileSync(`${root}/${pid}/fdinfo/${fd}`, 'utf8'));
    if (m) flags = parseInt(m[1]!, 8);
  } catch {
    return undefined;
  }
  const type = objectTypeOf(target, isDir, isChr);
  const ev: EventOf<'snapshot.fd'> = { ...base, kind: 'snapshot.fd', fd, obj, target, flags, object_type: type };
  if (type === 'socket') {
    const s = sockets().get(ino);
    if (s !== undefined) {
      ev.family = s.family;
      if (s.local !== undefined) ev.local = s.local;
      if (s.peer !== undefined) ev.peer = s.peer;
    }
  }
  return ev;
}

/** /proc/PID/stat counts a process' start in clock ticks of 10 ms (USER_HZ) since boot. */
const NS_PER_TICK = 10_000_000n;
/** Start time and uptime are both cut to 10 ms: two ticks of slack. */
const START_SLACK_NS = 2n * NS_PER_TICK;

/** Fields of /proc/PID/stat from the third (state) on, after the parenthesised comm; undefined when the process is gone. */
function statFields(root: string, pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`${root}/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Where the command line of the program a process runs starts in its memory (field 48): a new address on each exec; 0 when unreadable (a kernel thread, a zombie). */
const argStartOf = (f: string[]): number => Number(f[48 - 3] ?? 0);

/**
 * When a process started (field 22), on the monotonic clock the probe's
 * timestamps use: its start is kept on the boot clock, which runs ahead of
 * the monotonic clock by the time the machine was suspended, and
 * /proc/uptime against the monotonic clock now gives the difference.
 * Undefined when /proc/uptime cannot be read.
 */
function startedMonoNs(root: string, f: string[]): bigint | undefined {
  try {
    const uptime = readFileSync(`${root}/uptime`, 'utf8').split(' ')[0]!;
    const monoNow = process.hrtime.bigint();
    const [whole, frac = '0'] = uptime.split('.');
    const bootNow = BigInt(whole!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
    return BigInt(f[22 - 3]!) * NS_PER_TICK - (bootNow - monoNow);
  } catch {
    return undefined;
  }
}

/** A process read whole from /proc, and whether what /proc showed is the program the record named. */
export interface ProcessRead {
  /** snapshot.process, then a snapshot.fd per descriptor. */
  events: Event[];
  /**
   * /proc showed a later program than the record named (the process exec'd
   * since, or while it was read): its command line, executable and working
   * directory are not the record's program's.
   */
  later: boolean;
}

/**
 * Descriptors read from /proc one at a time, as they are first met (a
 * process that came into the watch from outside, with descriptors made
 * where no probe saw them). A network namespace's socket tables are read
 * at most once per `tableTtlMs`.
 */
export class ProcFdReader {
  private readonly tables = new Map<string, { at: number; sockets: Map<number, SocketInfo> }>();

  constructor(
    private readonly root = '/proc',
    private readonly tableTtlMs = 50,
    /**
     * The stream's monotonic epoch (events' ts count from it). With it, a
     * process /proc shows under a pid is taken for the one a record named
     * only if it had started by that record's time: a pid freed and reused
     * meanwhile belongs to another process.
     */
    private readonly monoEpochNs?: bigint,
  ) {}

  /** Descriptor `fd` of `base.pid`; with fd -1, the descriptor of that process that points at `obj` (undefined when none does). */
  read(fd: number, base: { ts: number; cgroup: number; pid: number; tid: number }, obj?: string): EventOf<'snapshot.fd'> | undefined {
    const pid = base.pid;
    if (fd < 0) {
      const found = obj === undefined ? undefined : this.fdOf(pid, obj);
      if (found === undefined) return undefined;
      fd = found;
    }
    return describeFd(this.root, fd, base, () => this.sockets(pid, netNamespace(this.root, pid)));
  }

  /**
   * A process read whole, as at start (snapshot.process, then its
   * descriptors); undefined when it is gone. `argStart` (the record's
   * process.seen) names the program the record saw: /proc showing another,
   * before or after the read, makes the read `later`.
   */
  process(base: { ts: number; cgroup: number; pid: number; tid: number }, argStart?: number): ProcessRead | undefined {
    const before = statFields(this.root, base.pid);
    if (before === undefined) return undefined;
    if (this.monoEpochNs !== undefined) {
      // gone, or started after the record that named the pid: not the process the record was about
      const started = startedMonoNs(this.root, before);
      if (started === undefined || started > this.monoEpochNs + BigInt(base.ts) + START_SLACK_NS) return undefined;
    }
    const events = snapshotProcesses({ pids: [base.pid], now: () => base.ts, cgroupId: () => base.cgroup, procRoot: this.root, sockets: (pid, ns) => this.sockets(pid, ns) });
    if (events.length === 0) return undefined;
    // /proc's files are read one by one: an exec between the two stat reads may have mixed two programs (seen: one's
    // comm, the next one's executable); gone meanwhile, what was read is still the first one's
    const after = statFields(this.root, base.pid);
    const program = argStartOf(before);
    const later = (argStart !== undefined && program !== argStart) || (after !== undefined && argStartOf(after) !== program);
    return { events, later };
  }

  /** The socket tables of network namespace `ns` (as `pid` sees them), read again once older than `tableTtlMs`. */
  private sockets(pid: number, ns: string): Map<number, SocketInfo> {
    const now = Date.now();
    let t = this.tables.get(ns);
    if (t === undefined || now - t.at > this.tableTtlMs) {
      if (this.tables.size >= 64) this.tables.clear();
      t = { at: now, sockets: readSockets(pid, this.root) };
      this.tables.set(ns, t);
    }
    return t.sockets;
  }

  /** Which descriptor of `pid` points at object `obj` (a process has a few, or a few thousand: each is stat'ed). */
  private fdOf(pid: number, obj: string): number | undefined {
    let names: string[];
    try {
      names = readdirSync(`${this.root}/${pid}/fd`);
    } catch {
      return undefined;
    }
    // (one closed meanwhile has no identity)
    for (const name of names) if (objIdAt(`${this.root}/${pid}/fd/${name}`) === obj) return Number(name);
    return undefined;
  }
}

export interface SnapshotOptions {
  pids: number[];
  /** ns since the trace epoch, for the events' ts. */
  now: () => number;
  /** cgroup v2 id of a process' cgroup path. */
  cgroupId: (path: string) => number;
  procRoot?: string;
  /** The socket tables of a network namespace, as `pid` sees them (default: read once per namespace for this call). */
  sockets?: (pid: number, ns: string) => Map<number, SocketInfo>;
}

/**
 * Snapshot events for the given pids, parents before children (so a state
 * built from them has every ppid known). Processes that vanish mid-read are
 * skipped; a descriptor that closes mid-read is skipped.
 */
export function snapshotProcesses(opts: SnapshotOptions): Event[] {
  const root = opts.procRoot ?? '/proc';
  const infos = opts.pids.map((p) => readProcInfo(p, root)).filter((i): i is ProcInfo => i !== undefined);
  const byPid = new Map(infos.map((i) => [i.pid, i]));
  const depth = (i: ProcInfo): number => {
    let d = 0;
    for (let p = byPid.get(i.ppid); p !== undefined && d < 4096; p = byPid.get(p.ppid)) d++;
    return d;
  };
  infos.sort((a, b) => depth(a) - depth(b) || a.pid - b.pid);
  const out: Event[] = [];
  const socketsByNs = new Map<string, Map<number, SocketInfo>>();
  const socketsOf =
    opts.sockets ??
    ((pid: number, ns: string): Map<number, SocketInfo> => {
      let m = socketsByNs.get(ns);
      if (m === undefined) socketsByNs.set(ns, (m = readSockets(pid, root)));
      return m;
    });
  for (const info of infos) {
    const pid = info.pid;
    const base = { ts: opts.now(), cgroup: opts.cgroupId(info.cgroupPath), pid, tid: pid };
    let argv: string[] = [];
    try {
      argv = readFileSync(`${root}/${pid}/cmdline`, 'utf8').split('\0').filter((a, i, all) => i < all.length - 1 || a !== '');
    } catch {
      continue;
    }
    const exe = tryLink(`${root}/${pid}/exe`);
    const cwd = tryLink(`${root}/${pid}/cwd`);
    const proc: EventOf<'snapshot.process'> = {
      ...base,
      kind: 'snapshot.process',
      ppid: info.ppid,
      comm: info.comm,
      argv,
      ...(exe !== undefined && { exe }),
      ...(cwd !== undefined && { cwd }),
    };
    out.push(proc);
    let fds: string[];
    try {
      fds = readdirSync(`${root}/${pid}/fd`);
    } catch {
      continue;
    }
    const ns = netNamespace(root, pid);
    for (const name of fds) {
      const ev = describeFd(root, Number(name), base, () => socketsOf(pid, ns));
      if (ev !== undefined) out.push(ev);
    }
  }
  return out;
}
