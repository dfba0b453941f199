import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { moduleLog } from '../../util/log.js';
import type { DurableQueue } from '../../util/durable-queue.js';
import { QueuedOutput } from './queued-output.js';

const log = moduleLog('sinks/siem');

export interface HttpTarget {
  name: string;
  url: string;
  /** Splunk HEC token (sent as `Authorization: Splunk TOKEN`). */
  token?: string;
  ca?: string;
  batch: number;
}

/**
 * Splunk HEC-style delivery: queued events go out in order, in batches (one
 * JSON object per event, concatenated, in one POST); a 2xx answer delivers
 * the batch, anything else (or no answer in 10 s) keeps it queued and
 * retries with backoff from 200 ms to 30 s.
 */
export class HttpOutput extends QueuedOutput {
  private busy = false;
  private backoff = 200;

  constructor(
    readonly target: HttpTarget,
    queue: DurableQueue,
  ) {
    super(queue, 250, true);
  }

  protected pump(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    const batch = this.queue.peek(this.target.batch);
    const body = batch.map((m) => m.body).join('\n');
    this.busy = true;
    const u = new URL(this.target.url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      {
        method: 'POST',
        timeout: 10_000,
        headers: { 'content-type': 'application/json', ...(this.target.token && { authorization: `Splunk ${this.target.token}` }) },
        ...(this.target.ca && { ca: readFileSync(this.target.ca) }),
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          this.busy = false;
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) {
            this.queue.ack(batch.length);
            this.stats.sent += batch.length;
            this.stats.queued = this.queue.length;
            this.stats.connected = true;
            this.backoff = 200;
            this.pump();
          } else this.retry(batch.length, `HTTP ${res.statusCode}`);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', (e) => {
      this.busy = false;
      this.retry(batch.length, e.message);
    });
    req.end(body);
  }

  private retry(n: number, why: string): void {
    this.stats.retried += n;
    this.stats.connected = false;
    log.warn({ output: this.target.name, why, retry_in_ms: this.backoff }, 'SIEM HTTP output: batch not accepted, will retry');
    this.busy = true;
    setTimeout(() => {
      this.busy = false;
      this.pump();
    }, this.backoff).unref();
    this.backoff = Math.min(this.backoff * 2, 30_000);
  }
}
