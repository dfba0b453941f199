import { closeSync, createWriteStream, fstatSync, openSync, readSync, writeSync, type WriteStream } from 'node:fs';
import { moduleLog } from '../util/log.js';

const log = moduleLog('sinks/jsonl');

/**
 * JSON Lines output to a file or stdout ('-'). Two modes for files:
 * streamed (default; Node buffers and writes in the background) and
 * `durable`, where lines collect in memory and `flush()` writes them with
 * write(2): once flush returns they are in the kernel's page cache and
 * survive the process being killed (chainwatch serve flushes before it
 * acknowledges events to an agent).
 */
export class JsonlWriter {
  private readonly out: NodeJS.WritableStream | WriteStream | undefined;
  private readonly fd: number | undefined;
  private readonly isStdout: boolean;
  private pending: string[] = [];
  private pendingBytes = 0;
  written = 0;

  /**
   * `append`: keep what the file holds (a service restarted writes on after
   * its earlier runs). A last line cut off by a crash (no newline) is ended
   * first, so it stays one bad line instead of swallowing the first line
   * written now; logged, and `repairedTornLine` says so.
   */
  readonly repairedTornLine: boolean = false;

  constructor(target: string, append = false, durable = false) {
    this.isStdout = target === '-';
    if (!this.isStdout && append) this.repairedTornLine = endTornLine(target);
    if (this.repairedTornLine) log.warn({ file: target }, 'the last line of the file was cut off (a crash of the earlier run): ended it, appending after it');
    if (this.isStdout) this.out = process.stdout;
    else if (durable) this.fd = openSync(target, append ? 'a' : 'w');
    else this.out = createWriteStream(target, { flags: append ? 'a' : 'w' });
  }

  write(obj: unknown): void {
    const line = `${JSON.stringify(obj)}\n`;
    this.written++;
    if (this.fd === undefined) {
      this.out!.write(line);
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes > 1 << 16) this.flush();
  }

  /** Durable mode: everything written so far reaches the kernel now. */
  flush(): void {
    if (this.fd === undefined || this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): Promise<void> {
    if (this.fd !== undefined) {
      this.flush();
      closeSync(this.fd);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      if (this.isStdout) {
        // stdout stays open for the process; wait for what we wrote to drain
        if (process.stdout.writableNeedDrain) process.stdout.once('drain', () => resolve());
        else resolve();
        return;
      }
      const ws = this.out as WriteStream;
      ws.once('error', reject);
      ws.end(() => resolve());
    });
  }
}

/** Appends a newline to `file` when its last byte is not one (a line torn by a crash); true when it did. */
function endTornLine(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch {
    return false; // not there yet: nothing to repair
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return false;
    writeSync(fd, '\n', size);
    return true;
  } finally {
    closeSync(fd);
  }
}
