import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { moduleLog } from './log.js';
import { ensureDir } from './output-paths.js';

const log = moduleLog('util/durable-queue');

/**
 * An on-disk FIFO of messages for one output: `pending.jsonl` holds every
 * message not yet confirmed delivered, `acked` how many of its first lines
 * were. A restart resumes where delivery stopped. Bounded: past `max`
 * messages, new ones are refused and counted (the caller records that in
 * the audit log), never dropped silently.
 *
 * A disk that refuses a write (full) does not stop delivery: the messages
 * are in memory and go out from there; the failure is logged once, and the
 * files are rewritten whole (atomically) at the first write that works, so
 * the queue is durable again from then on. Only a crash while the disk
 * refuses loses what was not on it.
 */
export interface QueuedMessage {
  id: string;
  body: string;
}

export class DurableQueue {
  private items: QueuedMessage[] = [];
  private acked = 0;
  dropped = 0;
  /** Why the files are behind the queue in memory (a write the disk refused), while they are. */
  diskBehind: string | undefined;

  constructor(
    private readonly dir: string,
    readonly max: number,
  ) {
    ensureDir(dir, 'a delivery queue');
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
      this.persist(() => this.compact());
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
    this.persist(() => appendFileSync(join(this.dir, 'pending.jsonl'), `${JSON.stringify(m)}\n`));
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
    this.persist(() => {
      writeFileSync(join(this.dir, 'acked'), String(this.acked));
      if (this.acked > 1000 && this.acked > this.items.length) this.compact();
    });
  }

  /** Runs a write; while the files are behind, rewrites them whole instead. Never throws. */
  private persist(write: () => void): void {
    try {
      if (this.diskBehind === undefined) write();
      else this.compact();
    } catch (e) {
      if (this.diskBehind === undefined) log.error({ dir: this.dir, err: (e as Error).message }, `cannot write the queue in ${this.dir}: ${(e as Error).message}; delivery goes on from memory, a crash meanwhile would lose the queued messages (free space on its disk)`);
      this.diskBehind = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      return;
    }
    if (this.diskBehind !== undefined) {
      log.info({ dir: this.dir }, 'the queue is on disk again');
      this.diskBehind = undefined;
    }
  }

  /** Rewrites pending.jsonl with only what is left (atomically). */
  private compact(): void {
    const tmp = join(this.dir, 'pending.jsonl.tmp');
    writeFileSync(tmp, this.items.map((m) => `${JSON.stringify(m)}\n`).join(''));
    // acked first: between the two renames a crash must not skip messages (0 with the old file re-sends, never skips)
    writeFileSync(join(this.dir, 'acked'), '0');
    renameSync(tmp, join(this.dir, 'pending.jsonl'));
    this.acked = 0;
  }
}
