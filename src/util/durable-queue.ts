import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An on-disk FIFO of messages for one output: `pending.jsonl` holds every
 * message not yet confirmed delivered, `acked` how many of its first lines
 * were. A restart resumes where delivery stopped. Bounded: past `max`
 * messages, new ones are refused and counted (the caller records that in
 * the audit log), never dropped silently.
 */
export interface QueuedMessage {
  id: string;
  body: string;
}

export class DurableQueue {
  private items: QueuedMessage[] = [];
  private acked = 0;
  dropped = 0;

  constructor(
    private readonly dir: string,
    readonly max: number,
  ) {
    mkdirSync(dir, { recursive: true });
    const pending = join(dir, 'pending.jsonl');
    if (existsSync(pending)) {
      const lines = readFileSync(pending, 'utf8').split('\n');
      lines.pop(); // after the last newline (a cut line from a crash is dropped with it)
      const acked = existsSync(join(dir, 'acked')) ? Number(readFileSync(join(dir, 'acked'), 'utf8')) || 0 : 0;
      for (const l of lines.slice(acked)) {
        try {
          this.items.push(JSON.parse(l) as QueuedMessage);
        } catch {
          this.dropped++;
        }
      }
      this.compact();
    }
  }

  get length(): number {
    return this.items.length;
  }

  /** Adds a message; false (and counted) when the queue is full. */
  push(m: QueuedMessage): boolean {
    if (this.items.length >= this.max) {
      this.dropped++;
      return false;
    }
    this.items.push(m);
    appendFileSync(join(this.dir, 'pending.jsonl'), `${JSON.stringify(m)}\n`);
    return true;
  }

  /** The message at position `i` (not removed). */
  at(i: number): QueuedMessage | undefined {
    return this.items[i];
  }

  /** The first `n` messages (not removed). */
  peek(n: number): QueuedMessage[] {
    return this.items.slice(0, n);
  }

  /** The first `n` messages were delivered. */
  ack(n: number): void {
    if (n <= 0) return;
    this.items.splice(0, n);
    this.acked += n;
    writeFileSync(join(this.dir, 'acked'), String(this.acked));
    if (this.acked > 1000 && this.acked > this.items.length) this.compact();
  }

  /** Rewrites pending.jsonl with only what is left (atomically). */
  private compact(): void {
    const tmp = join(this.dir, 'pending.jsonl.tmp');
    writeFileSync(tmp, this.items.map((m) => `${JSON.stringify(m)}\n`).join(''));
    renameSync(tmp, join(this.dir, 'pending.jsonl'));
    this.acked = 0;
    writeFileSync(join(this.dir, 'acked'), '0');
  }
}
