import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Event } from '../schema/event.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { DurableQueue } from '../util/durable-queue.js';
import type { Logger } from '../util/log.js';
import { VERSION } from '../util/version.js';
import { agentProtocol, u64, type AgentMessage, type HostMessage } from './agent-protocol.js';
import type { TlsMaterial } from './tls-files.js';
import { ensureDir } from '../util/output-paths.js';

/**
 * The guest side of the agent link. Every canonical event gets the next
 * sequence number and goes into a bounded on-disk spool (in batches) before
 * it is sent; the host acknowledges what went through its pipeline and only
 * then does the spool forget it. While the host is unreachable the spool
 * grows; after a reconnect the host says where to resume. At most
 * `maxInFlight` batches are unacknowledged on the wire, so a slow host slows
 * sending and the spool absorbs the difference; when the spool is full, new
 * events are dropped, counted, logged and reported to the host in the next
 * batch (`dropped`). Nothing is lost silently.
 */
export interface AgentClientOptions {
  /** host:port of chainwatch serve. */
  target: string;
  tls: TlsMaterial;
  /** The name to check in the host's certificate, if not the target's host part. */
  serverName?: string;
  sandbox: string;
  spoolDir: string;
  header: TraceHeader;
  log: Logger;
  /** Spool bound in batches (default 2048). */
  maxSpoolBatches?: number;
  /** Events per batch (default 256) and the longest a batch waits (default 10 ms: the link's share of detection latency). */
  batchEvents?: number;
  batchMs?: number;
  /** Unacknowledged batches on the wire (default 32). */
  maxInFlight?: number;
}

export interface AgentClientStats {
  events: number;
  batches: number;
  sentBatches: number;
  ackedUpTo: number;
  dropped: number;
  spooled: number;
  connects: number;
  connected: boolean;
}

/** A spooled batch; its queue id is `f`, so batch i covers [id(i), id(i+1)) and the last one ends at nextSeq. */
interface SpoolBody {
  f: number;
  e: string[];
  w: number;
  d: number;
}

export class AgentClient {
  private readonly queue: DurableQueue;
  private readonly run: string;
  private nextSeq: number;
  private batch: string[] = [];
  private watermarkTs = 0;
  private pendingDropped = 0;
  private lastDropLog = 0;
  private call: ClientDuplexStream<AgentMessage, HostMessage> | undefined;
  private client: InstanceType<ReturnType<typeof agentProtocol>['Client']> | undefined;
  private welcomed = false;
  private sent = 0;
  private backoffMs = 200;
  private closing = false;
  private flushTimer: NodeJS.Timeout;
  private heartbeat: NodeJS.Timeout;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastSend = 0;
  private idleWaiters: (() => void)[] = [];
  private lastError = '';
  readonly stats: AgentClientStats = { events: 0, batches: 0, sentBatches: 0, ackedUpTo: 0, dropped: 0, spooled: 0, connects: 0, connected: false };

  constructor(private readonly o: AgentClientOptions) {
    ensureDir(o.spoolDir, 'the agent spool (--spool)', 0o700);
    const runFile = join(o.spoolDir, 'run');
    if (!existsSync(runFile)) writeFileSync(runFile, randomUUID());
    this.run = readFileSync(runFile, 'utf8').trim();
    this.queue = new DurableQueue(join(o.spoolDir, 'spool'), o.maxSpoolBatches ?? 2048);
    const seqFile = join(o.spoolDir, 'next-seq');
    const persisted = existsSync(seqFile) ? Number(readFileSync(seqFile, 'utf8')) || 0 : 0;
    const last = this.queue.at(this.queue.length - 1);
    const lastBody = last && (JSON.parse(last.body) as SpoolBody);
    this.nextSeq = Math.max(persisted, lastBody ? lastBody.f + lastBody.e.length : 0);
    if (this.queue.length > 0) o.log.info({ batches: this.queue.length, run: this.run }, 'spool holds unacknowledged events from before: they are sent first');
    this.flushTimer = setInterval(() => this.flush(), o.batchMs ?? 10);
    this.heartbeat = setInterval(() => this.idleBeat(), 1000);
    this.stats.spooled = this.queue.length;
  }

  start(): void {
    this.connect();
  }

  push(ev: Event): void {
    this.stats.events++;
    this.batch.push(JSON.stringify(ev));
    if (this.batch.length >= (this.o.batchEvents ?? 256)) this.flush();
  }

  /** Every event up to this guest ts has been pushed (the probe's delivery proof). */
  watermark(ts: number): void {
    if (ts > this.watermarkTs) this.watermarkTs = ts;
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const events = this.batch;
    this.batch = [];
    const body: SpoolBody = { f: this.nextSeq, e: events, w: this.watermarkTs, d: this.pendingDropped };
    if (!this.queue.push({ id: String(this.nextSeq), body: JSON.stringify(body) })) {
      this.pendingDropped += events.length;
      this.stats.dropped += events.length;
      if (Date.now() - this.lastDropLog > 10_000) {
        this.lastDropLog = Date.now();
        this.o.log.error({ dropped_total: this.stats.dropped, spool_batches: this.queue.length }, 'agent spool full (host unreachable or too slow): events dropped; the count goes to the host with the next batch');
      }
      return;
    }
    this.pendingDropped = 0;
    this.nextSeq += events.length;
    this.stats.batches++;
    this.stats.spooled = this.queue.length;
    this.pump();
  }

  private connect(): void {
    if (this.closing) return;
    const { Client } = agentProtocol();
    const creds = credentials.createSsl(this.o.tls.ca, this.o.tls.key, this.o.tls.cert);
    this.client = new Client(this.o.target, creds, {
      ...(this.o.serverName !== undefined && { 'grpc.ssl_target_name_override': this.o.serverName, 'grpc.default_authority': this.o.serverName }),
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.max_receive_message_length': 16 << 20,
    });
    const call = this.client.StreamEvents();
    this.call = call;
    this.welcomed = false;
    this.sent = 0;
    const first = this.queue.length > 0 ? Number(this.queue.at(0)!.id) : this.nextSeq;
    call.write({ hello: { sandbox: this.o.sandbox, run: this.run, first_unacked: String(first), header_json: JSON.stringify(this.o.header), agent_version: VERSION } });
    call.on('data', (m: HostMessage) => this.onHost(call, m));
    call.on('drain', () => this.pump());
    const lost = (why: string): void => {
      if (this.call !== call) return;
      this.call = undefined;
      this.stats.connected = false;
      this.welcomed = false;
      this.client?.close();
      if (this.closing) return;
      if (why !== this.lastError) this.o.log.warn({ target: this.o.target, reason: why, retry_ms: this.backoffMs, spooled_batches: this.queue.length }, 'host unreachable: spooling, will retry');
      this.lastError = why;
      this.reconnectTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    };
    call.on('error', (e: Error & { details?: string }) => lost(e.details ?? e.message));
    call.on('end', () => lost('the host ended the stream'));
  }

  private onHost(call: ClientDuplexStream<AgentMessage, HostMessage>, m: HostMessage): void {
    if (m.clock) {
      call.write({ clock: { host_mono_ns: String(m.clock.host_mono_ns), agent_mono_ns: process.hrtime.bigint().toString(), agent_wall_ns: (BigInt(Date.now()) * 1_000_000n).toString() } });
    } else if (m.welcome) {
      const from = u64(m.welcome.resume_from) ?? 0;
      this.ackUpTo(from);
      this.welcomed = true;
      this.stats.connected = true;
      this.stats.connects++;
      this.backoffMs = 200;
      this.lastError = '';
      this.o.log.info({ target: this.o.target, sandbox: m.welcome.sandbox, resume_from: from, spooled_batches: this.queue.length }, 'streaming to the host');
      this.pump();
    } else if (m.ack) {
      this.ackUpTo(u64(m.ack.up_to) ?? 0);
      this.pump();
    }
  }

  /** Where spooled batch `i` ends: where the next begins (batches are contiguous: a refused batch takes no numbers). */
  private endOf(i: number): number {
    const next = this.queue.at(i + 1);
    return next === undefined ? this.nextSeq : Number(next.id);
  }

  /** The host holds every event below `upTo`: forget the batches that are wholly below it. */
  private ackUpTo(upTo: number): void {
    let n = 0;
    while (n < this.queue.length && this.endOf(n) <= upTo) n++;
    if (n > 0) {
      this.queue.ack(n);
      this.sent = Math.max(0, this.sent - n);
    }
    if (upTo > this.stats.ackedUpTo) this.stats.ackedUpTo = upTo;
    this.stats.spooled = this.queue.length;
    if (this.queue.length === 0) {
      // numbering continues after a restart: from the spool's last batch, or from here when the spool is empty
      if (n > 0) writeFileSync(join(this.o.spoolDir, 'next-seq'), String(this.nextSeq));
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private pump(): void {
    const call = this.call;
    if (call === undefined || !this.welcomed) return;
    const window = this.o.maxInFlight ?? 32;
    while (this.sent < this.queue.length && this.sent < window) {
      const b = JSON.parse(this.queue.at(this.sent)!.body) as SpoolBody;
      this.sent++;
      this.stats.sentBatches++;
      this.lastSend = Date.now();
      if (!call.write({ batch: { first_seq: String(b.f), events: b.e, delivered_up_to: String(b.w), dropped: String(b.d) } })) break;
    }
  }

  /** When idle, an empty batch carries the watermark (the host's rule clock) and shows the agent is alive. */
  private idleBeat(): void {
    if (this.call === undefined || !this.welcomed || this.queue.length > 0 || this.batch.length > 0) return;
    if (Date.now() - this.lastSend < 900) return;
    this.lastSend = Date.now();
    this.call.write({ batch: { first_seq: String(this.nextSeq), events: [], delivered_up_to: String(this.watermarkTs), dropped: String(this.pendingDropped) } });
    this.pendingDropped = 0;
  }

  /** Flushes, waits (at most `timeoutMs`) until the host acknowledged everything, then disconnects. */
  async close(timeoutMs = 10_000): Promise<AgentClientStats> {
    this.flush();
    clearInterval(this.flushTimer);
    if (this.queue.length > 0) {
      await Promise.race([new Promise<void>((r) => this.idleWaiters.push(r)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.closing = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    if (this.queue.length > 0) this.o.log.warn({ batches: this.queue.length }, 'stopping with unacknowledged events in the spool: they are sent on the next start');
    this.call?.end();
    this.client?.close();
    this.stats.spooled = this.queue.length;
    return this.stats;
  }
}
