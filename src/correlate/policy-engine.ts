import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { posix } from 'node:path';
import picomatch from 'picomatch';
import type { Event, EventOf, Family, ObjectView } from '../schema/event.js';
import { MORE_ARGS, type EffectiveIntent, type EffectivePolicy, type ManifestEntry } from '../schema/policy.js';
import { pathGlobMatcher } from '../util/path-globs.js';
import { leavesMachine, mappedSendSocket, socketText } from './egress.js';
import type { FlowTransmitFact } from './flow-facts.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * Checks each task's behaviour against its intent (rules/policy.yaml,
 * docs/policy.md). Default-deny: an open, exec, connect, bind or send that
 * no capability of the intent grants is a violation, as is data of a class
 * reaching a destination no flow capability allows, a transmit too soon
 * after reading a class, too many bytes out per minute, or passing a
 * descriptor. Tasks the manifest maps to no intent are outside the policy.
 */
export type PolicyRule = 'policy.file' | 'policy.exec' | 'policy.network' | 'policy.flow' | 'policy.sequence' | 'policy.rate' | 'policy.fd-passing';

export interface Violation {
  rule: PolicyRule;
  intent: string;
  /** The capability or limit involved: for a denial, the closest one of that kind, if any. */
  limit?: { id: string; why: string; risk: string };
  /** What happened, in words. */
  what: string;
  /** The object: a path, `addr:port`, a unix path. */
  object: string;
  /** One finding per (rule, task, process, object). */
  key: string;
  severity: EffectiveIntent['severity'];
  onViolation: EffectiveIntent['on_violation'];
  /** The probe already killed the process in the kernel (exec and IPv4 connect hard denies with --enforce). */
  killedInKernel?: boolean;
  ev: Event | FlowTransmitFact;
}

interface Compiled {
  name: string;
  intent: EffectiveIntent;
  files: { id: string; match: (p: string) => boolean; access: Set<string> }[];
  exec: { id: string; match: (p: string) => boolean; sha256?: string; args?: (args: readonly string[], truncated: boolean) => boolean; forms?: string }[];
  network: { id: string; ops: Set<string>; dest: (d: Dest) => boolean }[];
  flows: { id: string; classes: Set<string>; dest: (d: Dest) => boolean }[];
}

interface Dest {
  family?: Family | undefined;
  addr?: string | undefined;
  port?: number | undefined;
  path?: string | undefined;
}

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

/** read / write / create, as the open flags ask for them. */
export function accessOf(flags: number): Set<'read' | 'write' | 'create'> {
  const a = new Set<'read' | 'write' | 'create'>();
  const mode = flags & O_ACCMODE;
  if (mode !== O_WRONLY) a.add('read');
  if (mode === O_WRONLY || mode === O_RDWR || (flags & (O_TRUNC | O_APPEND)) !== 0) a.add('write');
  if ((flags & O_CREAT) !== 0) a.add('create');
  return a;
}

/** `/etc/../etc//shadow` → `/etc/shadow`; relative paths are left to the caller. Idempotent. */
export function normalisePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** A CIDR list as a matcher (Node's BlockList). */
export function cidrMatcher(cidrs: string[]): (addr: string) => boolean {
  const bl = new BlockList();
  for (const c of cidrs) {
    const [a, bits] = c.split('/');
    const v6 = isIP(a!) === 6;
    bl.addSubnet(a!, bits === undefined ? (v6 ? 128 : 32) : Number(bits), v6 ? 'ipv6' : 'ipv4');
  }
  return (addr) => {
    const v = isIP(addr);
    if (v === 0) return false;
    return bl.check(addr, v === 6 ? 'ipv6' : 'ipv4');
  };
}

function portMatcher(ports: (number | string)[]): (p: number) => boolean {
  const ranges = ports.map((x) => (typeof x === 'number' ? [x, x] : (x.split('-').map(Number) as [number, number])));
  return (p) => ranges.some(([a, b]) => p >= a! && p <= b!);
}

function destMatcher(d: { family?: string | undefined; cidrs?: string[] | undefined; ports?: (number | string)[] | undefined; unix_paths?: string[] | undefined }): (x: Dest) => boolean {
  const cidr = d.cidrs ? cidrMatcher(d.cidrs) : undefined;
  const port = d.ports ? portMatcher(d.ports) : undefined;
  const unix = d.unix_paths ? pathGlobMatcher(d.unix_paths) : undefined;
  return (x) => {
    if (d.family !== undefined && x.family !== d.family) return false;
    if (x.family === 'unix') return unix === undefined ? d.family === 'unix' : x.path !== undefined && unix(x.path);
    if (unix !== undefined && cidr === undefined && port === undefined) return false;
    if (cidr !== undefined && (x.addr === undefined || !cidr(x.addr))) return false;
    if (port !== undefined && (x.port === undefined || !port(x.port))) return false;
    return true;
  };
}

const destText = (d: Dest): string => {
  if (d.family === 'unix') return `unix:${d.path ?? '(unnamed)'}`;
  if (d.addr !== undefined) return `${d.family === 'vsock' ? 'vsock ' : ''}${d.addr}:${d.port ?? '?'}`;
  return socketText(d.family);
};

export interface PolicyEngineOptions {
  /** Check executables' SHA-256 where a capability names one (live; a replay on another host cannot). */
  verifyDigests?: boolean;
}

export class PolicyEngine {
  private readonly compiled = new Map<string, Compiled>();
  private readonly cgroupPaths = new Map<number, string>();
  /** cgroup → the intent found for it and the task name it was found under (an event names both; one lookup per event). */
  private readonly intentCache = new Map<number, { task: string | undefined; c: Compiled | null }>();
  private readonly reported = new Set<string>();
  /** bytes out per task: [minute window start, bytes]. */
  private readonly rate = new Map<string, { start: number; bytes: number }>();
  private readonly digestCache = new Map<string, string | null>();
  private readonly digestCacheOrder = new OldestFirst(this.digestCache);
  /** Processes the kernel killed, with the rule: user space does not report the same denial again. */
  private readonly killedInKernel = new Map<number, Set<PolicyRule>>();
  /** The keys in `reported` by pid, forgotten when the process exits. */
  private readonly reportedOfPid = new Map<number, string[]>();

  constructor(
    public policy: EffectivePolicy,
    private readonly o: PolicyEngineOptions = {},
  ) {
    this.compile();
  }

  /**
   * Puts a new policy in force (SIGHUP reload) without forgetting what the
   * stream told us: cgroup names, what was reported, rate windows.
   */
  replacePolicy(p: EffectivePolicy): void {
    this.policy = p;
    this.compiled.clear();
    this.intentCache.clear();
    this.compile();
  }

  private compile(): void {
    for (const [name, intent] of Object.entries(this.policy.intents)) {
      this.compiled.set(name, {
        name,
        intent,
        files: intent.files.map((c) => ({ id: c.id, match: pathGlobMatcher(c.paths), access: new Set(c.access) })),
        exec: intent.exec.map((c) => ({
          id: c.id,
          match: pathGlobMatcher(c.paths),
          ...(c.sha256 !== undefined && { sha256: c.sha256 }),
          ...(c.args !== undefined && { args: argsMatcher(c.args), forms: c.args.map((f) => `[${f.join(' ')}]`).join(' or ') }),
        })),
        network: intent.network.map((c) => ({ id: c.id, ops: new Set(c.ops), dest: destMatcher(c) })),
        flows: intent.flows.map((c) => ({ id: c.id, classes: new Set(c.classes), dest: destMatcher(c.to) })),
      });
    }
  }

  /** The intent the manifest gives this task (first match), or undefined: outside the policy. */
  intentOf(cgroup: number, task: string | undefined): string | undefined {
    return this.compiledFor(cgroup, task)?.name;
  }

  private compiledFor(cgroup: number, task: string | undefined): Compiled | undefined {
    const hit = this.intentCache.get(cgroup);
    if (hit !== undefined && hit.task === task) return hit.c ?? undefined;
    const path = this.cgroupPaths.get(cgroup);
    const m = this.policy.manifest.find((e: ManifestEntry) =>
      e.cgroup !== undefined ? path !== undefined && picomatch.isMatch(path, e.cgroup, { dot: true }) : task !== undefined && picomatch.isMatch(task, e.task!, { dot: true }),
    );
    const c = m === undefined ? null : (this.compiled.get(m.intent) ?? null);
    this.intentCache.set(cgroup, { task, c });
    return c ?? undefined;
  }

  /** Violations caused by one resolved event. */
  observe(ev: Event): Violation[] {
    if (ev.kind === 'process.exit') {
      // what was reported for this pid goes with it: a later process given the same pid is reported afresh
      if (ev.group_dead) this.forget(ev.pid);
      return [];
    }
    if (ev.kind === 'task.cgroup') {
      this.cgroupPaths.set(ev.cgroup, ev.path);
      this.intentCache.clear();
      return [];
    }
    if (ev.kind === 'task.cgroup_gone') {
      this.cgroupPaths.delete(ev.cgroup);
      this.intentCache.delete(ev.cgroup);
      return [];
    }
    const c = this.compiledFor(ev.cgroup, ev.proc?.task);
    if (c === undefined) return [];
    switch (ev.kind) {
      case 'file.open':
        return ev.ret < 0 ? [] : this.checkOpen(c, ev);
      case 'process.exec':
        return this.checkExec(c, ev);
      case 'net.addr':
        return this.checkAddr(c, ev);
      case 'io':
        return ev.dir === 'out' ? this.checkSend(c, ev, ev.res?.fd, ev.bytes) : [];
      case 'io.xfer':
        return this.checkSend(c, ev, ev.res?.fd_out, ev.bytes);
      case 'mem.map':
        return this.checkMappedSend(c, ev);
      case 'enforce.kill': {
        // the kernel killed it at the syscall: the same violation the user-space check reports (and then does not repeat)
        const rule = ev.what === 'exec' ? 'policy.exec' : 'policy.network';
        const object = ev.what === 'exec' ? normalisePath(ev.detail) : `connect ${ev.detail}`;
        const what = ev.what === 'exec' ? `ran ${ev.detail}; no exec capability of the intent allows that executable (killed in the kernel before it ran)` : `connected to ${ev.detail}; no network capability of the intent allows it (killed in the kernel at connect, before any send)`;
        let rules = this.killedInKernel.get(ev.pid);
        if (rules === undefined) this.killedInKernel.set(ev.pid, (rules = new Set()));
        rules.add(rule);
        return this.once(c, ev, rule, object, what).map((v) => ({ ...v, killedInKernel: true }));
      }
      case 'fd.rights':
        return ev.dir === 'send' && c.intent.limits.fd_passing === 'deny'
          ? this.once(c, ev, 'policy.fd-passing', describe(ev.res?.fd), `passed a descriptor of ${describe(ev.res?.fd)} over a unix socket (SCM_RIGHTS); the intent allows no descriptor passing`)
          : [];
      default:
        return [];
    }
  }

  /** Violations of flow capabilities and timing limits by a transmit of classified data. */
  observeTransmit(x: FlowTransmitFact): Violation[] {
    const c = this.compiledFor(x.transmit.cgroup, x.proc?.task);
    if (c === undefined) return [];
    const out: Violation[] = [];
    const d = destOf(x.transmit.sink);
    if (!c.flows.some((f) => (f.classes.has(x.data_class) || f.classes.has('*')) && f.dest(d))) {
      out.push(...this.once(c, x, 'policy.flow', `${x.data_class}→${destText(d)}`, `sent ${x.data_class} data from ${x.source_path} to ${destText(d)}; no flow capability of the intent lets ${x.data_class} data go there`));
    }
    for (const l of c.intent.limits.no_transmit_after) {
      if (l.class === x.data_class && x.latency_ns < l.within) {
        out.push(
          ...this.once(c, x, 'policy.sequence', `${l.id}:${destText(d)}`, `sent data ${(x.latency_ns / 1e6).toFixed(1)} ms after reading ${x.data_class} data (${x.source_path}); the intent allows no transmit within ${l.within / 1e9} s`, l),
        );
      }
    }
    return out;
  }

  private checkOpen(c: Compiled, ev: EventOf<'file.open'>): Violation[] {
    // the file reached, not the name used: a symlink into a forbidden place is the forbidden place
    const named = ev.abs?.real ?? ev.abs?.path ?? ev.path;
    // opened with no path (open_by_handle_at) and not named from its descriptor: no capability can cover it
    const reached = named === '' ? `(no path: ${ev.syscall}, object ${ev.obj ?? '?'})` : normalisePath(named);
    const want = accessOf(ev.flags);
    const allowed = (p: string): boolean => c.files.some((f) => f.match(p) && [...want].every((a) => f.access.has(a)));
    // and a file linked or renamed into an allowed place is still the file it first was: both names must be allowed
    const first = ev.abs?.aka;
    const reachedAllowed = allowed(reached);
    if (reachedAllowed && (first === undefined || allowed(first))) return [];
    const path = reachedAllowed && first !== undefined ? normalisePath(first) : reached;
    const shown = path === reached ? path : `${reached} (first named ${path})`;
    const partial = c.files.find((f) => f.match(path));
    const missing = [...want].filter((a) => !partial?.access.has(a));
    return this.once(
      c,
      ev,
      'policy.file',
      `${path} (${[...want].join('+')})`,
      partial ? `opened ${shown} for ${missing.join('+')}; capability ${partial.id} allows only ${[...partial.access].join('+')}` : `opened ${shown} for ${[...want].join('+')}; no file capability of the intent covers it`,
      partial && capOf(c.intent.files, partial.id),
    );
  }

  private checkExec(c: Compiled, ev: EventOf<'process.exec'>): Violation[] {
    const path = normalisePath(ev.abs?.filename ?? ev.filename);
    const caps = c.exec.filter((e) => e.match(path));
    if (caps.length === 0) return this.once(c, ev, 'policy.exec', path, `ran ${path}; no exec capability of the intent allows it`);
    const args = ev.argv.slice(1);
    const cap = caps.find((e) => e.args === undefined || e.args(args, ev.argv_truncated));
    if (cap === undefined) {
      // every capability for this executable limits its arguments, and none allows these
      const shown = JSON.stringify(args).slice(0, 300);
      const cut = ev.argv_truncated ? ' (the probe cut them, so a form without ... cannot be confirmed)' : '';
      return this.once(c, ev, 'policy.exec', `${path} ${shown}`, `ran ${path} with the arguments ${shown}${cut}; capability ${caps[0]!.id} allows it only with ${caps[0]!.forms}`, capOf(c.intent.exec, caps[0]!.id));
    }
    if (cap.sha256 !== undefined && this.o.verifyDigests) {
      const got = this.digest(path);
      if (got !== cap.sha256) return this.once(c, ev, 'policy.exec', `${path}@${got ?? 'unreadable'}`, `ran ${path} whose SHA-256 is ${got ?? 'unreadable'}, not the ${cap.sha256} that capability ${cap.id} allows`, capOf(c.intent.exec, cap.id));
    }
    return [];
  }

  private checkAddr(c: Compiled, ev: EventOf<'net.addr'>): Violation[] {
    if (ev.ret < 0 && ev.ret !== -115) return []; // failed (EINPROGRESS still connects)
    const d: Dest = { family: ev.family, addr: ev.addr, port: ev.port, path: ev.path };
    if (networkAllows(c, ev.op, d)) return [];
    return this.once(c, ev, 'policy.network', `${ev.op} ${destText(d)}`, `${ev.op === 'connect' ? 'connected to' : 'bound'} ${destText(d)}; no network capability of the intent allows it`);
  }

  private checkSend(c: Compiled, ev: Event, v: ObjectView | undefined, bytes: number): Violation[] {
    // sockets that carry data off the machine, and unix ones (local, but a capability names them)
    if (v === undefined || !(leavesMachine(v) || (v.type === 'socket' && v.family === 'unix'))) return [];
    const out: Violation[] = [];
    const d = destOf(v);
    if (v.family !== 'unix' && !networkAllows(c, 'send', d)) {
      out.push(...this.once(c, ev, 'policy.network', `send ${destText(d)}`, `sent ${bytes} bytes to ${destText(d)}; no network capability of the intent allows sending there`));
    }
    const lim = c.intent.limits.bytes_out_per_minute;
    if (lim !== undefined && v.family !== 'unix') {
      const task = ev.proc?.task ?? '';
      let r = this.rate.get(task);
      if (r === undefined || ev.ts - r.start >= 60e9) {
        r = { start: ev.ts, bytes: 0 };
        this.rate.set(task, r);
      }
      r.bytes += bytes;
      if (r.bytes > lim.max) {
        out.push(...this.once(c, ev, 'policy.rate', `${lim.id}@${r.start}`, `sent ${r.bytes} bytes in under a minute; the intent allows ${lim.max}`, lim));
      }
    }
    return out;
  }

  /**
   * A socket's memory mapped writable (AF_XDP, packet TX rings): frames
   * leave from it with no write to check, so the mapping is checked as the
   * send (any data, classified or not; no byte count for the rate limit).
   */
  private checkMappedSend(c: Compiled, ev: EventOf<'mem.map'>): Violation[] {
    const v = mappedSendSocket(ev);
    if (v === undefined) return [];
    const d = destOf(v);
    if (networkAllows(c, 'send', d)) return [];
    return this.once(c, ev, 'policy.network', `send ${destText(d)}`, `mapped the memory of ${destText(d)} writable, to send from it with no write(2); no network capability of the intent allows sending there`);
  }

  private once(c: Compiled, ev: Event | FlowTransmitFact, rule: PolicyRule, object: string, what: string, limit?: { id: string; why: string; risk: string }): Violation[] {
    const key = `${rule}\n${ev.proc?.task ?? ''}\n${ev.pid}\n${object}`;
    if (this.reported.has(key)) return [];
    if (ev.kind !== 'enforce.kill' && this.killedInKernel.get(ev.pid)?.has(rule)) return [];
    this.reported.add(key);
    let keys = this.reportedOfPid.get(ev.pid);
    if (keys === undefined) this.reportedOfPid.set(ev.pid, (keys = []));
    keys.push(key);
    return [{ rule, intent: c.name, ...(limit && { limit: { id: limit.id, why: limit.why, risk: limit.risk } }), what, object, key, severity: c.intent.severity, onViolation: c.intent.on_violation, ev }];
  }

  /**
   * SHA-256 of the file at `path` now. Cached by the file's identity and
   * change times, never by path alone: a binary replaced or rewritten after
   * its first exec is hashed again (a cache by path would have vouched for
   * the new content with the old digest). What ran can still differ from
   * what is read here if the file changes between the exec and this read.
   */
  /** The task ended: its rate window goes (a later task of the same name starts afresh). */
  taskEnded(task: string): void {
    this.rate.delete(task);
  }

  get ratesKept(): number {
    return this.rate.size;
  }

  private forget(pid: number): void {
    for (const k of this.reportedOfPid.get(pid) ?? []) this.reported.delete(k);
    this.reportedOfPid.delete(pid);
    this.killedInKernel.delete(pid);
  }

  private digest(path: string): string | null {
    let id: string;
    try {
      const st = statSync(path, { bigint: true });
      id = `${path}\n${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return null;
    }
    let d = this.digestCache.get(id);
    if (d === undefined) {
      try {
        d = createHash('sha256').update(readFileSync(path)).digest('hex');
      } catch {
        d = null;
      }
      if (this.digestCache.size >= MAX_DIGESTS) this.digestCacheOrder.evict();
      this.digestCache.set(id, d);
    }
    return d;
  }
}

/** Executable digests cached (by file identity), oldest dropped first. */
const MAX_DIGESTS = 4096;

function capOf(caps: { id: string; why: string; risk: string }[], id: string): { id: string; why: string; risk: string } | undefined {
  const c = caps.find((x) => x.id === id);
  return c && { id: c.id, why: c.why, risk: c.risk };
}

/** Some network capability of the intent allows `op` to `d`. */
function networkAllows(c: Compiled, op: string, d: Dest): boolean {
  return c.network.some((n) => n.ops.has(op) && n.dest(d));
}

function destOf(v: ObjectView): Dest {
  return { family: v.family, addr: v.peer?.addr, port: v.peer?.port, path: v.peer?.path ?? v.local?.path };
}

function describe(v: ObjectView | undefined): string {
  return v?.path ?? (v?.peer ? destText(destOf(v)) : (v?.id ?? 'an unknown object'));
}

/**
 * Whether the arguments after argv[0] fit one of the forms: a glob per
 * argument (as for paths: `*` stops at `/`, `**` crosses it), `...` last
 * for any further ones. A command line the probe cut fits only a form
 * ending in `...` whose globs the arguments seen already satisfy.
 */
function argsMatcher(forms: readonly string[][]): (args: readonly string[], truncated: boolean) => boolean {
  const compiled = forms.map((f) => {
    const more = f.at(-1) === MORE_ARGS;
    return { more, globs: (more ? f.slice(0, -1) : f).map((g) => picomatch(g, { dot: true })) };
  });
  return (args, truncated) =>
    compiled.some(({ more, globs }) => {
      if (more ? args.length < globs.length : truncated || args.length !== globs.length) return false;
      return globs.every((g, i) => g(args[i]!));
    });
}
