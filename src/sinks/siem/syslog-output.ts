import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { moduleLog } from '../../util/log.js';
import type { DurableQueue } from '../../util/durable-queue.js';
import { QueuedOutput } from './queued-output.js';
import { octetFrame } from './syslog-5424.js';

const log = moduleLog('sinks/siem');

export interface SyslogTarget {
  name: string;
  transport: 'tcp' | 'tls' | 'udp';
  host: string;
  port: number;
  tls?: { ca: string; cert?: string; key?: string; servername?: string };
}

/**
 * Delivers queued RFC 5424 messages in order over TCP (RFC 6587 octet
 * counting), TLS (RFC 5425, client certificates) or UDP. Plain syslog has no
 * acknowledgements, so a message counts as delivered once the connection
 * has stayed up `settleMs` after it was written; when the connection drops,
 * everything not yet settled is sent again after reconnecting (with its
 * delivery id, so the receiver can tell the copy). Reconnects back off
 * from 200 ms to 10 s.
 */
export class SyslogOutput extends QueuedOutput {
  private sock: Socket | undefined;
  private connecting = false;
  /** Written but not yet settled, oldest first: [written at]. */
  private inFlight: number[] = [];
  private backoff = 200;

  constructor(
    readonly target: SyslogTarget,
    queue: DurableQueue,
    private readonly settleMs = 2000,
  ) {
    super(queue, 100, false);
  }

  protected override tick(): void {
    // settle: the connection outlived these writes
    const now = Date.now();
    let n = 0;
    while (n < this.inFlight.length && now - this.inFlight[n]! >= this.settleMs) n++;
    if (n > 0 && this.sock !== undefined) {
      this.inFlight.splice(0, n);
      this.queue.ack(n);
      this.stats.queued = this.queue.length;
    }
    this.pump();
  }

  protected pump(): void {
    if (this.closed) return;
    if (this.target.transport === 'udp') return this.pumpUdp();
    if (this.sock === undefined) return this.connect();
    const pending = this.queue.peek(this.inFlight.length + 256).slice(this.inFlight.length);
    for (const m of pending) {
      this.sock.write(octetFrame(m.body));
      this.inFlight.push(Date.now());
      this.stats.sent++;
    }
  }

  private pumpUdp(): void {
    const items = this.queue.peek(256);
    if (items.length === 0) return;
    const s = createSocket(this.target.host.includes(':') ? 'udp6' : 'udp4');
    let left = items.length;
    for (const m of items) {
      s.send(Buffer.from(m.body), this.target.port, this.target.host, () => {
        if (--left === 0) s.close();
      });
    }
    this.stats.sent += items.length;
    this.queue.ack(items.length); // UDP: fire and forget, as legacy receivers expect
    this.stats.queued = this.queue.length;
  }

  private connect(): void {
    if (this.connecting || this.closed || this.queue.length === 0) return;
    this.connecting = true;
    const t = this.target;
    const onUp = (): void => {
      this.connecting = false;
      this.backoff = 200;
      this.stats.connected = true;
      log.info({ output: t.name, host: t.host, port: t.port }, 'SIEM output connected');
      this.pump();
    };
    let s: Socket;
    try {
      s = t.transport === 'tls'
        ? tlsConnect({ host: t.host, port: t.port, ca: readFileSync(t.tls!.ca), ...(t.tls?.cert && { cert: readFileSync(t.tls.cert) }), ...(t.tls?.key && { key: readFileSync(t.tls.key) }), servername: t.tls?.servername ?? t.host }, onUp)
        : netConnect({ host: t.host, port: t.port }, onUp);
    } catch (e) {
      this.connecting = false;
      log.error({ output: t.name, err: (e as Error).message }, 'SIEM output cannot connect');
      return;
    }
    s.setNoDelay(true);
    s.on('error', (e) => log.warn({ output: t.name, err: e.message }, 'SIEM output connection error'));
    s.on('close', () => {
      const wasUp = this.sock === s;
      this.sock = undefined;
      this.connecting = false;
      this.stats.connected = false;
      // everything not settled goes again, in order, after reconnecting
      if (this.inFlight.length > 0) {
        this.stats.retried += this.inFlight.length;
        log.warn({ output: t.name, resend: this.inFlight.length }, 'SIEM output connection lost: unsettled messages will be sent again');
      }
      this.inFlight = [];
      if (this.closed) return;
      const wait = wasUp ? 200 : this.backoff;
      this.backoff = Math.min(this.backoff * 2, 10_000);
      setTimeout(() => this.pump(), wait).unref();
    });
    s.on('data', () => undefined);
    this.sock = s;
  }

  protected override onClosed(): void {
    this.sock?.end();
  }
}
