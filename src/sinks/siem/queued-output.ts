import type { DurableQueue } from '../../util/durable-queue.js';

export interface OutputStats {
  sent: number;
  queued: number;
  retried: number;
  dropped: number;
  connected: boolean;
}

/**
 * What the network outputs share: a durable queue they deliver from in
 * order, counters, a periodic retry, and a close that waits for the queue
 * to drain. Each output says how it sends (`pump`).
 */
export abstract class QueuedOutput {
  protected closed = false;
  private readonly timer: NodeJS.Timeout;
  readonly stats: OutputStats;

  constructor(
    protected readonly queue: DurableQueue,
    tickMs: number,
    connected: boolean,
  ) {
    this.stats = { sent: 0, queued: queue.length, retried: 0, dropped: 0, connected };
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  /** New messages were queued: send what can be sent. */
  kick(): void {
    this.stats.queued = this.queue.length;
    this.pump();
  }

  /** Every `tickMs`: retry what is waiting. */
  protected tick(): void {
    this.pump();
  }

  protected abstract pump(): void;

  /** Waits (up to `ms`) until everything queued is delivered, then stops. */
  async close(ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    while (this.queue.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.closed = true;
    clearInterval(this.timer);
    this.onClosed();
  }

  protected onClosed(): void {}
}
