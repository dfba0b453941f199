import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { TLSSocket } from 'node:tls';
import { checkEvent, type Event } from '../schema/event.js';
import { TraceHeader } from '../schema/trace-header.js';
import { formatIssues } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { agentProtocol, u64, u64Big, type AgentMessage, type HostMessage } from './agent-protocol.js';
import { AgentListener, type RefusedConnection } from './agent-listener.js';
import { ClockOffset } from './clock-offset.js';
import { SequenceLedger, type Gap } from './sequence-ledger.js';
import { sandboxOfAltNames, type TlsMaterial } from './tls-files.js';
import { OldestFirst } from '../util/oldest-first.js';


/**
 * The host side of the agent link: the only gRPC service agents can reach
 * (EventIngest/StreamEvents). Per stream it checks who the agent is (its
 * certificate, never its word), estimates the guest clock's offset, skips
 * resent events and reports gaps by sequence number, validates every event
 * against the canonical schema, puts guest timestamps on the host's
 * timeline, hands the events to the stream's lane and acknowledges them
 * once they went through. It never reads or changes policy.
 */
export interface StreamInfo {
  sandbox: string;
  run: string;
  remote: string;
  header: TraceHeader;
  agentVersion: string;
}

/** Ended streams whose last status the admin API still shows. */
const MAX_PAST_STREAMS = 10_000;

/** Where one agent stream's events go (the pipeline's lane for that sandbox). */
export interface StreamLane {
  /** Canonical events, in order, timestamps already on the host timeline. */
  events(evs: Event[]): void;
  /** Every event up to this host ts has been delivered (the rule clock). */
  watermark(ts: number): void;
  gap(g: Gap, why: string): void;
  dropped(n: number): void;
  malformed(seq: number, why: string): void;
  /** The stream ended (agent closed, connection lost, silent, replaced). */
  closed(reason: string, clean: boolean): void;
}

export interface AgentStatus {
  sandbox: string;
  connected: boolean;
  remote: string;
  run: string;
  next_seq: number | undefined;
  events: number;
  duplicates: number;
  gaps: number;
  gap_events: number;
  dropped_by_agent: number;
  malformed: number;
  clock: { offset_ns: string; error_ns: string; samples: number } | null;
  last_message_ms_ago: number;
}

export interface IngestServerOptions {
  tls: TlsMaterial;
  log: Logger;
  /** The host's monotonic epoch (ns): host timestamps are relative to it. */
  hostEpochNs: bigint;
  /** Where the sequence ledger lives between runs (dedup and gaps across a host restart). */
  ledgerFile?: string;
  /** Sandboxes not seen for this long leave the ledger (default 7 days). */
  ledgerRetainMs?: number;
  /** A stream that sends nothing (not even clock answers) for this long is cut off and reported. */
  silenceMs?: number;
  /** Host clock probe period. */
  clockMs?: number;
  /** Called before each acknowledgement: outputs must hold what is acknowledged; false when they could not be written (the acks wait). */
  beforeAck?: () => boolean;
  /** A verified agent said hello: its lane, or a reason to refuse. */
  open: (info: StreamInfo) => StreamLane | string;
  onRefused?: (r: RefusedConnection) => void;
}

interface Stream {
  sandbox: string;
  remote: string;
  call: ServerDuplexStream<AgentMessage, HostMessage>;
  lane?: StreamLane;
  info?: StreamInfo;
  clock: ClockOffset;
  probes: Map<string, bigint>;
  /** The oldest clock probe still unanswered, for the bound of 16. */
  probesOrder: OldestFirst<string, bigint>;
  agentEpoch: bigint;
  lastTs: number;
  lastMessage: number;
  welcomed: boolean;
  hello?: AgentMessage['hello'];
  ended: boolean;
  stats: { events: number; duplicates: number; gaps: number; gapEvents: number; dropped: number; malformed: number };
  timer?: NodeJS.Timeout;
}

const mono = (): bigint => process.hrtime.bigint();

export class IngestServer {
  readonly grpc: Server;
  private readonly listener: AgentListener;
  private readonly ledger: SequenceLedger;
  private readonly streams = new Map<string, Stream>();
  private readonly past = new Map<string, AgentStatus>();
  private readonly pastOrder = new OldestFirst(this.past);
  /** Streams with events not yet acknowledged (one acknowledgement round for all of them). */
  private readonly ackDue = new Set<Stream>();
  private ackTimer: NodeJS.Timeout | undefined;
  /** Acknowledgement rounds put off because an output or the ledger could not be written. */
  acksWithheld = 0;
  /** Over every stream since the start (the per-stream figures of ended streams are forgotten in time; these are not). */
  readonly totals = { events: 0, duplicates: 0, gaps: 0, gapEvents: 0, dropped: 0, malformed: 0 };
  /** The ledger file could not be written at the last save (logged once until it can again). */
  private ledgerFailing = false;

  constructor(private readonly o: IngestServerOptions) {
    this.ledger = new SequenceLedger(o.ledgerFile, { ...(o.ledgerRetainMs !== undefined && { retainMs: o.ledgerRetainMs }) });
    for (const p of this.ledger.loadProblems) o.log.warn({ ledger: o.ledgerFile }, `sequence ledger: ${p}`);
    this.grpc = new Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 });
    this.grpc.addService(agentProtocol().service, { StreamEvents: (call: ServerDuplexStream<AgentMessage, HostMessage>) => this.stream(call) });
    // TLS is terminated by the listener; verified sockets are handed to gRPC as they are
    const injector = this.grpc.createConnectionInjector(ServerCredentials.createInsecure());
    this.listener = new AgentListener({
      tls: o.tls,
      log: o.log,
      onAgent: (socket: TLSSocket) => injector.injectConnection(socket),
      ...(o.onRefused && { onRefused: o.onRefused }),
    });
  }

  listen(host: string, port: number): Promise<number> {
    return this.listener.listen(host, port);
  }

  get refused(): number {
    return this.listener.refused;
  }

  status(): AgentStatus[] {
    const live = [...this.streams.values()].map((s) => this.statusOf(s));
    return [...live, ...[...this.past.values()].filter((p) => !this.streams.has(p.sandbox))];
  }

  private statusOf(s: Stream): AgentStatus {
    const e = s.clock.estimate();
    return {
      sandbox: s.sandbox,
      connected: !s.ended,
      remote: s.remote,
      run: s.info?.run ?? '',
      next_seq: this.ledger.next(s.sandbox),
      events: s.stats.events,
      duplicates: s.stats.duplicates,
      gaps: s.stats.gaps,
      gap_events: s.stats.gapEvents,
      dropped_by_agent: s.stats.dropped,
      malformed: s.stats.malformed,
      clock: e ? { offset_ns: e.offsetNs.toString(), error_ns: e.errorNs.toString(), samples: e.samples } : null,
      last_message_ms_ago: Date.now() - s.lastMessage,
    };
  }

  private stream(call: ServerDuplexStream<AgentMessage, HostMessage>): void {
    const cert = call.getAuthContext().sslPeerCertificate;
    const sandbox = sandboxOfAltNames(cert?.subjectaltname);
    const remote = call.getPeer();
    if (sandbox === undefined) {
      // cannot happen through the listener (it verified the certificate); refuse anyway
      call.emit('error', { code: status.UNAUTHENTICATED, details: 'no verified agent certificate' });
      return;
    }
    const old = this.streams.get(sandbox);
    if (old !== undefined) {
      this.o.log.warn({ sandbox, remote, previous: old.remote }, `a new stream for sandbox ${sandbox} from ${remote} replaces the one from ${old.remote}`);
      this.end(old, status.ABORTED, 'replaced by a newer stream for the same sandbox', false);
    }
    const probes = new Map<string, bigint>();
    const s: Stream = {
      sandbox,
      remote,
      call,
      clock: new ClockOffset(),
      probes,
      probesOrder: new OldestFirst(probes),
      agentEpoch: 0n,
      lastTs: 0,
      lastMessage: Date.now(),
      welcomed: false,
      ended: false,
      stats: { events: 0, duplicates: 0, gaps: 0, gapEvents: 0, dropped: 0, malformed: 0 },
    };
    this.streams.set(sandbox, s);
    this.o.log.info({ sandbox, remote }, 'agent connected');
    this.probe(s);
    const silence = this.o.silenceMs ?? 10_000;
    s.timer = setInterval(() => {
      if (Date.now() - s.lastMessage > silence) {
        this.end(s, status.DEADLINE_EXCEEDED, `silent for ${Math.round((Date.now() - s.lastMessage) / 1000)} s (no events, no clock answers)`, false);
        return;
      }
      this.probe(s);
    }, this.o.clockMs ?? 1000);
    call.on('data', (m: AgentMessage) => {
      if (s.ended) return;
      s.lastMessage = Date.now();
      try {
        this.onMessage(s, m);
      } catch (e) {
        this.o.log.error({ sandbox, err: (e as Error).message }, 'agent message failed');
        this.end(s, status.INTERNAL, `host error: ${(e as Error).message}`, false);
      }
    });
    call.on('end', () => this.end(s, status.OK, 'the agent closed the stream', true));
    call.on('error', (e: Error) => this.end(s, undefined, `connection lost: ${e.message}`, false));
    call.on('cancelled', () => this.end(s, undefined, 'connection lost (cancelled)', false));
  }

  private probe(s: Stream): void {
    const t = mono();
    s.probes.set(t.toString(), t);
    if (s.probes.size > 16) s.probesOrder.evict();
    s.call.write({ clock: { host_mono_ns: t.toString() } });
  }

  private refuse(s: Stream, code: status, why: string): void {
    this.o.log.warn({ sandbox: s.sandbox, remote: s.remote, reason: why }, `refused the agent stream from ${s.remote} (certificate: sandbox ${s.sandbox}): ${why}`);
    this.o.onRefused?.({ remote: s.remote, reason: why, code: status[code] });
    this.end(s, code, why, false);
  }

  private onMessage(s: Stream, m: AgentMessage): void {
    if (m.clock) {
      const sent = s.probes.get(String(m.clock.host_mono_ns));
      const agent = u64Big(m.clock.agent_mono_ns);
      if (sent !== undefined && agent !== undefined) {
        s.probes.delete(String(m.clock.host_mono_ns));
        s.clock.add(sent, agent, mono());
      }
    } else if (m.hello) {
      if (s.hello) return this.refuse(s, status.INVALID_ARGUMENT, 'a second hello on one stream');
      s.hello = m.hello;
    } else if (m.batch) {
      if (!s.welcomed) return this.refuse(s, status.INVALID_ARGUMENT, 'events before the host welcomed the stream');
      this.onBatch(s, m.batch);
      return;
    } else {
      return this.refuse(s, status.INVALID_ARGUMENT, 'an empty message');
    }
    if (!s.welcomed && s.hello && s.clock.estimate() !== undefined) this.welcome(s);
  }

  private welcome(s: Stream): void {
    const h = s.hello!;
    if (h.sandbox !== '' && h.sandbox !== s.sandbox) {
      return this.refuse(s, status.PERMISSION_DENIED, `the agent says it is sandbox ${JSON.stringify(h.sandbox)} but its certificate names ${s.sandbox}`);
    }
    let header: TraceHeader;
    try {
      const parsed = TraceHeader.safeParse(JSON.parse(h.header_json));
      if (!parsed.success) return this.refuse(s, status.INVALID_ARGUMENT, `bad trace header: ${formatIssues(parsed.error.issues)}`);
      header = parsed.data;
    } catch (e) {
      return this.refuse(s, status.INVALID_ARGUMENT, `trace header is not JSON: ${(e as Error).message}`);
    }
    const first = u64(h.first_unacked);
    if (first === undefined || !/^[A-Za-z0-9-]{1,64}$/.test(h.run)) return this.refuse(s, status.INVALID_ARGUMENT, 'bad run id or sequence number');
    s.agentEpoch = BigInt(header.mono_epoch_ns);
    const info: StreamInfo = { sandbox: s.sandbox, run: h.run, remote: s.remote, header, agentVersion: h.agent_version };
    const lane = this.o.open(info);
    if (typeof lane === 'string') return this.refuse(s, status.PERMISSION_DENIED, lane);
    s.lane = lane;
    s.info = info;
    const out = this.ledger.hello(s.sandbox, h.run, first);
    if (out.gap) this.gap(s, out.gap, 'the agent no longer holds events the host never received');
    this.saveLedger();
    s.welcomed = true;
    const e = s.clock.estimate()!;
    this.o.log.info(
      { sandbox: s.sandbox, run: h.run, resume_from: out.resumeFrom, agent_first_unacked: first, new_run: out.newRun !== undefined, offset_ns: e.offsetNs.toString(), error_ns: e.errorNs.toString() },
      'agent stream welcomed',
    );
    s.call.write({ welcome: { sandbox: s.sandbox, resume_from: String(out.resumeFrom) } });
  }

  private gap(s: Stream, g: Gap, why: string): void {
    s.stats.gaps++;
    this.totals.gaps++;
    s.stats.gapEvents += g.to - g.from;
    this.totals.gapEvents += g.to - g.from;
    this.o.log.warn({ sandbox: s.sandbox, from: g.from, to: g.to }, `events ${g.from}..${g.to - 1} of sandbox ${s.sandbox} never arrived: ${why}`);
    s.lane?.gap(g, why);
  }

  /** A guest clock reading (relative to the agent's epoch) on the host timeline, never going back within a stream. */
  private hostTs(s: Stream, agentTs: number): number {
    const ts = this.onHostClock(s, agentTs);
    if (ts > s.lastTs) s.lastTs = ts;
    return s.lastTs;
  }

  private onHostClock(s: Stream, agentTs: number): number {
    const host = s.clock.toHost(s.agentEpoch + BigInt(agentTs))! - this.o.hostEpochNs;
    return host < 0n ? 0 : Number(host);
  }

  private onBatch(s: Stream, b: NonNullable<AgentMessage['batch']>): void {
    const first = u64(b.first_seq);
    if (first === undefined) return this.refuse(s, status.INVALID_ARGUMENT, 'a batch without a valid sequence number');
    const out = this.ledger.batch(s.sandbox, first, b.events.length);
    if (out.gap) this.gap(s, out.gap, 'the agent skipped them (lost on its side)');
    s.stats.duplicates += out.skip;
    this.totals.duplicates += out.skip;
    const dropped = u64(b.dropped) ?? 0;
    if (dropped > 0) {
      s.stats.dropped += dropped;
      this.totals.dropped += dropped;
      s.lane!.dropped(dropped);
    }
    const evs: Event[] = [];
    for (let i = out.skip; i < b.events.length; i++) {
      let parsed;
      try {
        parsed = checkEvent(JSON.parse(b.events[i]!));
      } catch (e) {
        parsed = { success: false as const, why: `not JSON: ${(e as Error).message}` };
      }
      if (!parsed.success) {
        s.stats.malformed++;
        this.totals.malformed++;
        const why = 'why' in parsed ? parsed.why : `not a canonical event: ${formatIssues(parsed.error.issues)}`;
        if (s.stats.malformed <= 20) this.o.log.warn({ sandbox: s.sandbox, seq: first + i, reason: why }, 'malformed event from an agent rejected');
        s.lane!.malformed(first + i, why);
        continue;
      }
      const ev = parsed.data;
      // a run's first call too (the latency of a chain is measured from it), never after the run's last
      if (ev.kind === 'io' || ev.kind === 'io.xfer') ev.ts_first = this.onHostClock(s, ev.ts_first);
      ev.ts = this.hostTs(s, ev.ts);
      if ((ev.kind === 'io' || ev.kind === 'io.xfer') && ev.ts_first > ev.ts) ev.ts_first = ev.ts;
      evs.push(ev);
    }
    s.stats.events += evs.length;
    this.totals.events += evs.length;
    if (evs.length > 0) s.lane!.events(evs);
    const up = u64(b.delivered_up_to);
    if (up !== undefined && up > 0) s.lane!.watermark(this.hostTs(s, up));
    this.scheduleAck(s);
  }

  /**
   * One acknowledgement round for all the batches that arrived within 10 ms,
   * whatever stream they came on (an agent keeps 32 batches in flight, so
   * this never stalls it): outputs flushed, then the ledger saved, once,
   * then an ack on each stream, so what is acknowledged is written and a
   * restarted host knows it has it. Detection does not wait for this:
   * events go through the pipeline as they arrive.
   */
  private scheduleAck(s: Stream): void {
    this.ackDue.add(s);
    this.ackTimer ??= setTimeout(() => this.ackRound(), 10);
  }

  private ackRound(): void {
    this.ackTimer = undefined;
    const due = [...this.ackDue].filter((x) => !x.ended);
    this.ackDue.clear();
    if (due.length === 0) return;
    if (this.o.beforeAck?.() === false || !this.saveLedger()) {
      // the outputs or the ledger could not be written (a full disk): nothing is acknowledged that is not on disk;
      // the agents keep what is unacknowledged, and the round is tried again in a second
      this.acksWithheld++;
      for (const x of due) this.ackDue.add(x);
      this.ackTimer = setTimeout(() => this.ackRound(), 1000);
      return;
    }
    for (const x of due) x.call.write({ ack: { up_to: String(this.ledger.next(x.sandbox) ?? 0) } });
  }


  /** Agent streams connected now (the metrics read this at each scrape; `status()` also lists ended ones). */
  get connected(): number {
    let n = 0;
    for (const s of this.streams.values()) if (!s.ended) n++;
    return n;
  }

  /** False when the ledger file cannot be written; logged once until it can again. */
  private saveLedger(): boolean {
    try {
      this.ledger.save(new Set(this.streams.keys()));
    } catch (e) {
      if (!this.ledgerFailing) {
        this.o.log.error({ file: this.o.ledgerFile, err: (e as Error).message }, `cannot write the sequence ledger ${this.o.ledgerFile ?? ''}: ${(e as Error).message}; acknowledgements are withheld until it can (the agents keep the events; free space on its disk)`);
      }
      this.ledgerFailing = true;
      return false;
    }
    if (this.ledgerFailing) this.o.log.info({ file: this.o.ledgerFile }, 'writing the sequence ledger works again');
    this.ledgerFailing = false;
    return true;
  }

  private end(s: Stream, code: status | undefined, reason: string, clean: boolean): void {
    if (s.ended) return;
    s.ended = true;
    clearInterval(s.timer);
    if (this.streams.get(s.sandbox) === s) this.streams.delete(s.sandbox);
    // the last status of each sandbox gone, for the admin API; the oldest go first past the bound
    this.past.delete(s.sandbox);
    this.past.set(s.sandbox, this.statusOf(s));
    if (this.past.size > MAX_PAST_STREAMS) this.pastOrder.evict();
    if (clean) this.o.log.info({ sandbox: s.sandbox, reason }, 'agent stream ended');
    else this.o.log.warn({ sandbox: s.sandbox, remote: s.remote, reason }, `agent stream of sandbox ${s.sandbox} ended: ${reason}`);
    s.lane?.closed(reason, clean);
    try {
      if (code === status.OK) s.call.end();
      else if (code !== undefined) s.call.destroy(Object.assign(new Error(reason), { code, details: reason }));
    } catch {
      // the call is already gone
    }
  }

  async close(): Promise<void> {
    for (const s of [...this.streams.values()]) this.end(s, status.UNAVAILABLE, 'the host is shutting down', true);
    this.grpc.forceShutdown();
    await this.listener.close();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.saveLedger();
  }
}
