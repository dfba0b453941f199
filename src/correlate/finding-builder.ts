import { createHash } from 'node:crypto';
import type { Event, ObjectView } from '../schema/event.js';
import type { ChainHop, Finding, ProcessRef } from '../schema/finding.js';
import type { Lineage } from '../state/process-table.js';
import { describeObject } from './describe-object.js';
import { isFdSentFact, isTransmitFact, type FdPassFact, type FlowTransmitFact } from './flow-facts.js';
import type { Deviation } from './baseline-scorer.js';
import type { Violation } from './policy-engine.js';
import { isShellRelayFact, type ShellRelayFact } from './relay-tracker.js';
import type { RuleMatch, RuleInput } from './sequence-matcher.js';
import { socketText } from './egress.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * Turns rule matches into findings, one per (rule, join key): the first
 * match emits the finding; later matches of the same flow chain (more sends)
 * update its counters, and the updated finding is emitted again, with the
 * same id, when the chain's sender exits, when the chain has been quiet for
 * `quietNs`, at most every `everyNs` while it keeps sending, and at the end
 * of the stream (`flush`). All of it is decided on kernel time, so a replay
 * emits what the live run emitted. Every emission is a snapshot: later sends
 * never change a finding already handed on.
 */
export interface FindingContext {
  host: string;
  /** Wall-clock ns of the trace epoch. */
  wallEpochNs: bigint;
  policyHash: string | null;
}

export interface FindingUpdates {
  /** A chain this long without a send has its updated counters emitted (default 5 s). */
  quietNs: number;
  /** A chain that keeps sending has its counters emitted at most this often (default 60 s). */
  everyNs: number;
  /** Chains kept open for updates; beyond it the least recently updated is closed, its last counters emitted first (default 20,000). */
  maxOpen: number;
}

export const DEFAULT_FINDING_UPDATES: FindingUpdates = { quietNs: 5e9, everyNs: 60e9, maxOpen: 20_000 };

export interface FindingStats {
  /** Chains open for updates now. */
  open: number;
  /** Updated findings emitted (same id, new counters). */
  updates: number;
  /** Chains closed to stay within maxOpen: a later send of one starts a new report of the same id. */
  closed: number;
}

interface Open {
  finding: Finding;
  /** Kernel time of the last change to its counters. */
  lastTs: number;
  /** Kernel time of the counters last emitted. */
  emittedTs: number;
}

const NO_FINDINGS: Finding[] = [];

/** Characters of command line a finding carries for the process that acted, and for each ancestor (RFC 5424 receivers take a few KiB per message). */
const ARGS_CHARS = 1024;
const ANCESTOR_ARGS_CHARS = 256;

/** Who a process is and who started it, as the state knows it (undefined: not known). */
export type LineageLookup = (pid: number) => Lineage | undefined;

/** `argv` as a finding carries it: whole arguments while they fit in `max` characters (at least a cut first one). */
function argsOf(l: Lineage, max: number): Pick<ProcessRef, 'args' | 'args_truncated'> {
  if (l.argv === undefined || l.argv.length === 0) return {};
  const args: string[] = [];
  let used = 0;
  for (const a of l.argv) {
    if (used + a.length > max) {
      if (args.length === 0) args.push(a.slice(0, max));
      return { args, args_truncated: true };
    }
    args.push(a);
    used += a.length;
  }
  return l.argvTruncated ? { args, args_truncated: true } : { args };
}

export class FindingBuilder {
  /** Open chains by key, least recently updated first. */
  private readonly open = new Map<string, Open>();
  private readonly openOrder = new OldestFirst(this.open);
  /** Open chains with counters not yet emitted (dirty). */
  private readonly dirty = new Set<Open>();
  /** No dirty chain falls quiet before this kernel time. */
  private nextQuiet = Number.POSITIVE_INFINITY;
  private readonly counts = { updates: 0, closed: 0 };
  /** Kernel loss reports seen: [ts, events]. */
  private readonly losses: [number, number][] = [];
  private readonly updates: FindingUpdates;
  /** Where findings look up command lines and ancestors (the pipeline's state); without it they name the process alone. */
  lineage: LineageLookup | undefined;

  constructor(
    private readonly ctx: FindingContext,
    updates: Partial<FindingUpdates> = {},
  ) {
    this.updates = { ...DEFAULT_FINDING_UPDATES, ...updates };
  }

  stats(): FindingStats {
    return { open: this.open.size, ...this.counts };
  }

  noteLoss(ev: Event): void {
    if (ev.kind === 'loss') {
      this.losses.push([ev.ts, ev.events]);
      if (this.losses.length > 10_000) this.losses.shift();
    }
  }

  /** Findings to emit now: new chains, and updates of chains that have sent for `everyNs` since their last report. */
  onMatches(matches: RuleMatch[]): Finding[] {
    const out: Finding[] = [];
    for (const m of matches) {
      const k = `${m.rule.id}\n${identityOf(m)}`;
      const last = m.inputs[m.inputs.length - 1]!;
      const had = this.open.get(k);
      if (had !== undefined) {
        if (isTransmitFact(last)) {
          const f = had.finding;
          f.bytes_sent += last.bytes;
          f.sends++;
          f.coverage.window_end_ns = last.ts;
          f.coverage.lost_events = this.lostBetween(f.coverage.window_start_ns, last.ts);
          had.lastTs = last.ts;
          // most recently updated last: the order in which chains are closed
          this.open.delete(k);
          this.open.set(k, had);
          if (last.ts - had.emittedTs >= this.updates.everyNs) out.push(this.report(had));
          else {
            this.dirty.add(had);
            if (last.ts + this.updates.quietNs < this.nextQuiet) this.nextQuiet = last.ts + this.updates.quietNs;
          }
        }
        continue;
      }
      const f = isTransmitFact(last) ? this.fromTransmit(m, last) : isFdSentFact(last) ? this.fromFdSent(m, last) : isShellRelayFact(last) ? this.fromRelay(m, last) : this.fromEvents(m);
      this.open.set(k, { finding: f, lastTs: last.ts, emittedTs: last.ts });
      out.push(snapshot(f));
      if (this.open.size > this.updates.maxOpen) this.close(out);
    }
    return out;
  }

  /** The updated counters of `o`, emitted now. */
  private report(o: Open): Finding {
    o.emittedTs = o.lastTs;
    this.dirty.delete(o);
    this.counts.updates++;
    return snapshot(o.finding);
  }

  /** Closes the least recently updated chain, emitting its last counters if they were not. */
  private close(out: Finding[]): void {
    const [, o] = this.openOrder.evict()!;
    if (this.dirty.has(o)) out.push(this.report(o));
    this.counts.closed++;
  }

  /**
   * Kernel time has reached `ts` (every event before it observed): chains
   * quiet for `quietNs` report their updated counters.
   */
  due(ts: number): Finding[] {
    if (ts < this.nextQuiet) return NO_FINDINGS;
    const out: Finding[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const o of this.dirty) {
      if (ts - o.lastTs >= this.updates.quietNs) out.push(this.report(o));
      else if (o.lastTs + this.updates.quietNs < next) next = o.lastTs + this.updates.quietNs;
    }
    this.nextQuiet = next;
    return out;
  }

  /** A process has exited: the chains it was sending report their updated counters. */
  senderGone(pid: number): Finding[] {
    if (this.dirty.size === 0) return NO_FINDINGS;
    const out: Finding[] = [];
    for (const o of this.dirty) if (o.finding.process.pid === pid) out.push(this.report(o));
    return out;
  }

  /** From now on, findings carry this policy hash (a policy reload). */
  setPolicyHash(h: string | null): void {
    this.ctx.policyHash = h;
  }

  /** A finding with no chain: one moment, one process (or chainwatch itself), a summary. */
  private single(f: { id: string; ts: number; rule: string; category: Finding['category']; severity: Finding['severity']; task: string; process: Finding['process']; lost: number; summary: string }): Finding {
    const wall = this.ctx.wallEpochNs + BigInt(f.ts);
    return {
      id: createHash('sha256').update(f.id).digest('hex').slice(0, 24),
      time: new Date(Number(wall / 1_000_000n)).toISOString(),
      ts_ns: f.ts,
      rule: f.rule,
      category: f.category,
      severity: f.severity,
      task: f.task,
      host: this.ctx.host,
      process: f.process,
      source: {},
      sink: {},
      bytes_read: 0,
      bytes_sent: 0,
      latency_ms: 0,
      sends: 1,
      chain: [],
      coverage: { lost_events: f.lost, window_start_ns: f.ts, window_end_ns: f.ts },
      policy_hash: this.ctx.policyHash,
      summary: f.summary,
    };
  }

  /** A finding about chainwatch itself (a rejected policy reload, an agent stream's gap, …): no process, no chain. */
  notice(rule: string, category: Finding['category'], severity: Finding['severity'], ts: number, summary: string, task = ''): Finding {
    const self = { pid: process.pid, ppid: process.ppid, comm: 'chainwatch' };
    return this.single({ id: `${rule}\n${ts}\n${summary}`, ts, rule, category, severity, task, process: self, lost: 0, summary });
  }

  /** A departure from the task intent's baseline (the scorer reports each task and key once). */
  fromDeviation(d: Deviation): Finding {
    const proc = d.proc;
    return this.single({
      id: `baseline\n${d.task}\n${d.key}`,
      ts: d.ts,
      rule: `baseline.${d.feature}`,
      category: 'baseline',
      severity: 'medium',
      task: d.task,
      process: this.processOf(d.pid, proc),
      lost: this.lostBetween(d.ts, d.ts),
      summary: d.summary,
    });
  }

  /** A policy violation as a finding (one per violation key; the engine reports each once). */
  fromViolation(v: Violation, action: NonNullable<Finding['action']>): Finding {
    const ev = v.ev;
    const wall = this.ctx.wallEpochNs + BigInt(ev.ts);
    const proc = ev.proc;
    const isFact = ev.kind === 'flow.transmit';
    const x = isFact ? (ev as FlowTransmitFact) : undefined;
    const e = isFact ? undefined : (ev as Event);
    const socket = x ? x.transmit.sink : e ? Object.values(e.res ?? {}).find((o) => o.type === 'socket') : undefined;
    const killed = e?.kind === 'enforce.kill' ? e : undefined;
    const path = x
      ? x.source_path
      : e?.kind === 'process.exec'
        ? (e.abs?.filename ?? e.filename)
        : e?.kind === 'file.open'
          ? (e.abs?.real ?? e.abs?.path ?? e.path)
          : killed?.what === 'exec'
            ? killed.detail
            : undefined;
    const dest = killed?.what === 'connect' ? /^(.*):(\d+)$/.exec(killed.detail) : null;
    const comm = proc?.comm ?? '?';
    const verb = killed ? '' : action === 'killed' ? ' It was killed.' : action === 'would-kill' ? ' It would have been killed (dry run; --enforce kills).' : action === 'kill-failed' ? ' Killing it failed.' : '';
    return {
      id: createHash('sha256').update(`${v.rule}\n${v.key}`).digest('hex').slice(0, 24),
      time: new Date(Number(wall / 1_000_000n)).toISOString(),
      ts_ns: ev.ts,
      rule: v.rule,
      category: 'policy',
      severity: v.severity,
      task: proc?.task ?? '',
      host: this.ctx.host,
      process: this.processOf(ev.pid, proc),
      source: { ...(path !== undefined && { path }), ...(x && { data_class: x.data_class, object: x.transmit.taint.sourceObj }) },
      sink: dest ? { family: 'inet', address: dest[1]!, port: Number(dest[2]) } : socket === undefined ? {} : sinkOf(socket),
      bytes_read: x ? x.transmit.taint.bytesRead : 0,
      bytes_sent: x ? x.bytes : e?.kind === 'io' || e?.kind === 'io.xfer' ? e.bytes : 0,
      latency_ms: x ? Math.round((x.latency_ns / 1e6) * 1000) / 1000 : 0,
      sends: 1,
      chain: x ? x.transmit.taint.hops : [hopOf(e!)],
      coverage: { lost_events: this.lostBetween(ev.ts, ev.ts), window_start_ns: x ? x.transmit.taint.firstReadTs : ev.ts, window_end_ns: ev.ts },
      policy_hash: this.ctx.policyHash,
      summary: `${comm} (pid ${ev.pid}, task ${proc?.task ?? ''}, intent ${v.intent}) ${v.what} (${v.rule}).${verb}`,
      action,
      policy: { intent: v.intent, ...(v.limit && { capability: v.limit.id, why: v.limit.why, risk: v.limit.risk }), violation: v.what },
    };
  }

  /** End of stream: findings whose counters changed since they were last emitted. */
  flush(): Finding[] {
    const out: Finding[] = [];
    for (const o of this.open.values()) if (this.dirty.has(o)) out.push(this.report(o));
    this.nextQuiet = Number.POSITIVE_INFINITY;
    return out;
  }

  /**
   * The process that acted: pid, parent, name and executable as the event
   * saw them; command line and ancestors from the state at this moment (a
   * process that exited before a rule's window closed is still known).
   */
  private processOf(pid: number, proc: Event['proc']): Finding['process'] {
    const p: Finding['process'] = { pid, ppid: proc?.ppid ?? -1, comm: proc?.comm ?? '?' };
    if (proc?.exe !== undefined) p.exe = proc.exe;
    const l = this.lineage?.(pid);
    if (l === undefined) return p;
    Object.assign(p, argsOf(l, ARGS_CHARS));
    const ancestors: ProcessRef[] = [];
    for (let a = l.parent; a !== undefined; a = a.parent) {
      const r: ProcessRef = { pid: a.pid, comm: a.comm };
      if (a.exe !== undefined) r.exe = a.exe;
      ancestors.push(Object.assign(r, argsOf(a, ANCESTOR_ARGS_CHARS)));
    }
    if (ancestors.length > 0) p.ancestors = ancestors;
    return p;
  }

  private lostBetween(from: number, to: number): number {
    let n = 0;
    for (const [ts, events] of this.losses) if (ts >= from && ts <= to) n += events;
    return n;
  }

  private base(m: RuleMatch, last: RuleInput & { proc?: Event['proc'] }): Omit<Finding, 'source' | 'sink' | 'bytes_read' | 'bytes_sent' | 'latency_ms' | 'chain' | 'coverage' | 'summary'> {
    const wall = this.ctx.wallEpochNs + BigInt(last.ts);
    const proc = last.proc;
    return {
      id: createHash('sha256').update(`${m.rule.id}\n${identityOf(m)}`).digest('hex').slice(0, 24),
      time: new Date(Number(wall / 1_000_000n)).toISOString(),
      ts_ns: last.ts,
      rule: m.rule.id,
      category: m.rule.category,
      severity: m.rule.severity,
      task: proc?.task ?? '',
      host: this.ctx.host,
      process: this.processOf(last.pid, proc),
      sends: 1,
      policy_hash: this.ctx.policyHash,
    };
  }

  private fromTransmit(m: RuleMatch, x: FlowTransmitFact): Finding {
    const t = x.transmit;
    const sink = t.sink;
    // a socket with no peer address (a packet socket's raw frames): its family and identity
    const sinkText = sink.peer?.addr !== undefined ? `${sink.peer.addr}:${sink.peer.port ?? 0}` : (sink.peer?.path ?? `${socketText(sink.family)}, object ${sink.id}`);
    const latencyMs = x.latency_ns / 1e6;
    const comm = x.proc?.comm ?? '?';
    return {
      ...this.base(m, x),
      source: { path: t.taint.sourcePath, data_class: t.taint.cls, object: t.taint.sourceObj },
      sink: sinkOf(sink),
      bytes_read: t.taint.bytesRead,
      bytes_sent: t.bytes,
      latency_ms: Math.round(latencyMs * 1000) / 1000,
      chain: t.taint.hops,
      coverage: { lost_events: this.lostBetween(t.taint.firstReadTs, x.ts), window_start_ns: t.taint.firstReadTs, window_end_ns: x.ts },
      summary:
        `${comm} (pid ${x.pid}, task ${x.proc?.task ?? ''}) sent ${t.taint.cls} data from ${t.taint.sourcePath} to ${sinkText}` +
        (t.taint.hops[t.taint.hops.length - 1]?.syscall === 'mapped.send' ? ", through the socket's memory mapped into its own (no write(2): bytes not seen), " : ' ') +
        `${latencyMs < 1000 ? `${latencyMs.toFixed(1)} ms` : `${(latencyMs / 1000).toFixed(1)} s`} after reading it` +
        (x.processes > 1 ? `, through ${x.processes} processes` : '') +
        (t.taint.viaFile ? ', staged in a file' : '') +
        ` (${m.rule.id}).`,
    };
  }

  /** A sensitive descriptor that left the task over SCM_RIGHTS. */
  private fromFdSent(m: RuleMatch, x: FdPassFact): Finding {
    const ev = x.event;
    const sock = ev.res?.sock_fd;
    const peer = sock?.peer?.path ?? sock?.local?.path;
    return {
      ...this.base(m, x),
      source: { ...(x.source_path !== undefined && { path: x.source_path }), ...(x.data_class !== undefined && { data_class: x.data_class }), ...(ev.res?.fd && { object: ev.res.fd.id }) },
      sink: { family: 'unix', ...(peer !== undefined && { path: peer }) },
      bytes_read: 0,
      bytes_sent: 0,
      latency_ms: 0,
      chain: [hopOf(ev)],
      coverage: { lost_events: this.lostBetween(ev.ts, ev.ts), window_start_ns: ev.ts, window_end_ns: ev.ts },
      summary:
        `${x.proc?.comm ?? '?'} (pid ${x.pid}, task ${x.proc?.task ?? ''}) passed a descriptor of ${x.data_class ?? 'sensitive'} ` +
        `${x.source_path ?? 'data'} over a unix socket${peer !== undefined ? ` (${peer})` : ''} and no process of the task received it (${m.rule.id}).`,
    };
  }

  /** A shell whose standard input another process feeds from a network socket (ncat -e, socat EXEC). */
  private fromRelay(m: RuleMatch, x: ShellRelayFact): Finding {
    const s = x.socket;
    const peer = s.peer?.addr !== undefined ? `${s.peer.addr}:${s.peer.port ?? 0}` : s.channel;
    return {
      ...this.base(m, x),
      source: { path: x.shell },
      sink: sinkOf(s),
      bytes_read: 0,
      bytes_sent: 0,
      latency_ms: Math.round(((x.ts - x.hops[0]!.ts_ns) / 1e6) * 1000) / 1000,
      chain: x.hops,
      coverage: { lost_events: this.lostBetween(x.hops[0]!.ts_ns, x.ts), window_start_ns: x.hops[0]!.ts_ns, window_end_ns: x.ts },
      summary: `${x.proc?.comm ?? '?'} (pid ${x.pid}, task ${x.proc?.task ?? ''}) runs ${x.shell} on input that ${x.relay_comm} (pid ${x.relay_pid}) relays from socket ${peer} (${m.rule.id}).`,
    };
  }

  /** A finding from matched events: the chain is the matched steps; the sink is the first socket among them. */
  private fromEvents(m: RuleMatch): Finding {
    const events = m.inputs as Event[];
    const last = events[events.length - 1]!;
    const first = events[0]!;
    const socket = events.flatMap((e) => Object.values(e.res ?? {})).find((v) => v.type === 'socket');
    const chain: ChainHop[] = events.map((e) => hopOf(e));
    const comm = last.proc?.comm ?? '?';
    const where = socket?.peer?.addr !== undefined ? ` on socket ${socket.peer.addr}:${socket.peer.port ?? 0}` : '';
    const what = m.rule.category === 'reverse-shell' ? `runs a shell with its standard input/output${where}` : `matched ${m.rule.id}: ${m.rule.why}`;
    return {
      ...this.base(m, last),
      source: last.kind === 'process.exec' ? { path: last.filename } : {},
      sink: socket === undefined ? {} : sinkOf(socket),
      bytes_read: 0,
      bytes_sent: 0,
      latency_ms: Math.round(((last.ts - first.ts) / 1e6) * 1000) / 1000,
      chain,
      coverage: { lost_events: this.lostBetween(first.ts, last.ts), window_start_ns: first.ts, window_end_ns: last.ts },
      summary: `${comm} (pid ${last.pid}, task ${last.proc?.task ?? ''}) ${what} (${m.rule.id}).`,
    };
  }
}

/** A copy for handing on: the counters and coverage it shows stay as they are when the chain sends again. */
function snapshot(f: Finding): Finding {
  return { ...f, chain: [...f.chain], coverage: { ...f.coverage } };
}

/** What makes two matches one finding: the rule's `one_finding_per` field (within the task), else the join key. */
function identityOf(m: RuleMatch): string {
  const path = m.rule.one_finding_per;
  if (path === undefined) return m.key;
  let v: unknown = m.inputs[0];
  for (const p of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return `${m.inputs[0]!.proc?.task ?? ''}|${String(v)}`;
}

function sinkOf(v: ObjectView): Finding['sink'] {
  return {
    ...(v.family !== undefined && { family: v.family }),
    ...(v.peer?.addr !== undefined && { address: v.peer.addr, port: v.peer.port ?? 0 }),
    ...(v.peer?.path !== undefined && { path: v.peer.path }),
  };
}

function hopOf(e: Event): ChainHop {
  const base = { pid: e.pid, comm: e.proc?.comm ?? '?', ts_ns: e.ts, bytes: 0 };
  switch (e.kind) {
    case 'fd.dup':
      return { ...base, syscall: e.syscall, fd: e.ret, object: describeObject(e.res?.ret) };
    case 'process.exec':
      return { ...base, syscall: 'execve', fd: -1, object: e.filename };
    case 'io':
      return { ...base, syscall: e.syscall, fd: e.fd, object: describeObject(e.res?.fd), bytes: e.bytes };
    case 'fd.rights':
      return { ...base, syscall: e.dir === 'send' ? 'sendmsg(SCM_RIGHTS)' : 'recvmsg(SCM_RIGHTS)', fd: e.fd, object: describeObject(e.res?.fd) };
    case 'process.compat_syscall':
      // the thread's first 32-bit call; what it and the ones after it touched is not seen
      return { ...base, syscall: e.syscall, fd: -1, object: '(32-bit syscalls: not followed)' };
    default: {
      const v = Object.values(e.res ?? {})[0];
      return { ...base, syscall: e.kind, fd: -1, object: describeObject(v) };
    }
  }
}
