import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, write, writeSync } from 'node:fs';
import { moduleLog } from '../util/log.js';
import { NumberedParts, openForWriting } from '../util/output-paths.js';

const log = moduleLog('sinks/jsonl');

/** Lines are handed to the kernel in chunks of about this many bytes (or at the end of the tick). */
const CHUNK_BYTES = 1 << 16;

export interface JsonlWriterOptions {
  /**
   * Keep what the file holds (a service restarted writes on after it). A
   * last line cut off by a crash of the earlier run is ended first, so the
   * first new line is not glued onto it; `repairedTornLine` says it was.
   */
  append?: boolean;
  /** Lines collect in memory and reach the kernel at `flush()` (see below). */
  durable?: boolean;
  /** What the file is for, in an error about it (e.g. `the findings (--findings)`). */
  what?: string;
  /**
   * A new file once this one holds about `bytes` (at a chunk's end): FILE is
   * always the newest, earlier ones are moved aside as NAME.N.EXT (N above
   * any beside it), and beyond `keep` of them the oldest are removed.
   */
  rotate?: { bytes: number; keep?: number };
  /** Called once per failure (for the audit log); the writer has logged it. */
  onFail?: (file: string, why: string) => void;
  /** Text for each object, ending in a newline (default: its JSON on one line): findings as text for a terminal. */
  render?: (obj: never) => string;
}

/**
 * JSON Lines output to a file or stdout ('-'). Three ways of writing:
 * - a file, streamed (default): lines go out in chunks, written in the
 *   background one after another;
 * - a file, `durable`: lines collect in memory and `flush()` writes them
 *   with write(2); once it returns true they are in the kernel's page cache
 *   and survive the process being killed (chainwatch serve flushes before
 *   it acknowledges events to an agent);
 * - stdout.
 *
 * A write that fails (a full disk, a closed pipe) never crashes the run and
 * never leaves half a line: a chunk cut short is cut off the file again, so
 * the file holds whole lines only, exactly `written - unwritten` of them.
 * It is logged once with the file and the fix; `failed` says why. Streamed:
 * later lines are counted, not written. Durable: they are kept and the next
 * flush tries again (nothing is acknowledged that was not written).
 */
export class JsonlWriter {
  private fd: number | undefined;
  private readonly flags: number;
  private readonly parts: NumberedParts | undefined;
  /** Files moved aside (rotation). */
  rotations = 0;
  private readonly isStdout: boolean;
  private readonly durable: boolean;
  /** Lines accepted, not yet handed on. */
  private chunk: string[] = [];
  private chunkBytes = 0;
  private chunkLines = 0;
  private shipScheduled = false;
  /** Streamed file: chunks handed on, written one at a time in the background. */
  private readonly queue: { buf: Buffer; off: number; lines: number }[] = [];
  private inflight = false;
  private idle: (() => void)[] = [];
  /** Bytes of the file that hold whole lines written by this writer or before it. */
  private fileSize = 0;
  /** Lines accepted. */
  written = 0;
  /** Lines known to be in the file (or taken by stdout). */
  confirmed = 0;
  /** Why writing stopped (streamed) or last failed (durable), if it did. */
  failed: string | undefined;
  /** Lines that will not be written: those of the chunk that failed and every one after it (streamed, stdout). */
  dropped = 0;
  readonly repairedTornLine: boolean = false;
  private reported = false;

  constructor(
    readonly target: string,
    private readonly o: JsonlWriterOptions = {},
  ) {
    this.isStdout = target === '-';
    this.durable = o.durable === true && !this.isStdout;
    // O_APPEND always: after a chunk is cut off again, the next write lands at the new end
    this.flags = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (o.append ? 0 : constants.O_TRUNC);
    if (this.isStdout) {
      process.stdout.on('error', this.onStdoutError);
      return;
    }
    if (o.append) this.repairedTornLine = endTornLine(target);
    if (this.repairedTornLine) log.warn({ file: target }, 'the last line of the file was cut off (a crash of the earlier run): ended it, appending after it');
    this.parts = o.rotate && new NumberedParts(target, o.rotate.keep);
    this.openFile();
  }

  /** Opens the file at the name (appending), its whole size counted as whole lines. */
  private openFile(): void {
    this.fd = openForWriting(this.target, this.flags, this.o.what ?? 'JSON Lines output', 0o644);
    this.fileSize = fstatSync(this.fd).size;
  }

  /** Files removed to keep within `rotate.keep`. */
  get removed(): number {
    return this.parts?.removed ?? 0;
  }

  /** Lines accepted but not written: dropped (streamed, stdout) or waiting for a flush that works (durable). */
  get unwritten(): number {
    return this.durable ? this.chunkLines : this.dropped;
  }

  private readonly onStdoutError = (e: Error): void => this.fail(e);

  private fail(e: Error): void {
    const code = (e as NodeJS.ErrnoException).code;
    this.failed = code ?? e.message;
    if (this.reported) return;
    this.reported = true;
    if (this.isStdout && code === 'EPIPE') {
      log.info('stdout was closed by its reader: nothing more is written there');
      return;
    }
    const then = this.durable ? 'the lines are kept and written at the next flush that works' : 'lines from now on are counted, not written';
    log.error({ file: this.target, err: e.message }, `cannot write ${this.target}: ${e.message}; ${then} (free space on its disk, or choose another file)`);
    this.o.onFail?.(this.target, e.message);
  }

  write(obj: unknown): void {
    const line = this.o.render ? this.o.render(obj as never) : `${JSON.stringify(obj)}\n`;
    this.written++;
    if (this.failed !== undefined && !this.durable) {
      this.dropped++;
      return;
    }
    this.chunk.push(line);
    this.chunkBytes += line.length;
    this.chunkLines++;
    if (this.durable) {
      // while the disk is full, the lines wait for the caller's next flush, not one failing write per line
      if (this.chunkBytes > CHUNK_BYTES && this.failed === undefined) this.flush();
    } else if (this.chunkBytes >= CHUNK_BYTES) {
      this.ship();
    } else if (!this.shipScheduled) {
      this.shipScheduled = true;
      setImmediate(() => this.ship());
    }
  }

  /** Streamed and stdout: hands the lines accepted so far on. */
  private ship(): void {
    this.shipScheduled = false;
    if (this.chunkLines === 0) return;
    const buf = Buffer.from(this.chunk.join(''));
    const lines = this.chunkLines;
    this.chunk = [];
    this.chunkBytes = 0;
    this.chunkLines = 0;
    if (this.failed !== undefined) {
      this.dropped += lines;
      return;
    }
    if (this.isStdout) {
      process.stdout.write(buf, (err) => {
        if (err) this.dropped += lines;
        else this.confirmed += lines;
      });
      return;
    }
    this.queue.push({ buf, off: 0, lines });
    this.pump();
  }

  /** Streamed file: one write(2) in the background at a time, in order. */
  private pump(): void {
    if (this.inflight) return;
    const item = this.queue[0];
    if (item === undefined) {
      for (const r of this.idle.splice(0)) r();
      return;
    }
    this.inflight = true;
    write(this.fd!, item.buf, item.off, item.buf.length - item.off, null, (err, n) => {
      this.inflight = false;
      if (err) {
        // what this chunk put in the file is cut off again; it and every later line are counted
        this.truncateToWholeLines();
        for (const q of this.queue.splice(0)) this.dropped += q.lines;
        this.fail(err);
      } else {
        item.off += n;
        if (item.off === item.buf.length) {
          this.queue.shift();
          this.confirmed += item.lines;
          this.fileSize += item.buf.length;
          this.rotateIfDue();
        }
      }
      this.pump();
    });
  }

  /** Between whole chunks: the file moved aside, a new one at the name (a failure here is a write failure). */
  private rotateIfDue(): void {
    if (this.parts === undefined || this.fileSize < this.o.rotate!.bytes) return;
    try {
      this.parts.moveAside();
      closeSync(this.fd!);
      this.fd = undefined;
      this.rotations++;
      this.openFile();
    } catch (e) {
      // streamed: what waits is counted with the rest; durable: the next flush opens the file again
      for (const q of this.queue.splice(0)) this.dropped += q.lines;
      this.fail(e as Error);
    }
  }

  private truncateToWholeLines(): void {
    try {
      ftruncateSync(this.fd!, this.fileSize);
    } catch (e) {
      log.warn({ file: this.target, err: (e as Error).message }, 'could not cut a line written in part off the file: its last line is torn');
    }
  }

  /**
   * Durable: everything accepted so far reaches the kernel now. False when
   * it could not (a full disk): the whole lines written stay, a line cut in
   * the middle is cut off the file again, the rest is kept for the next
   * flush. Streamed and stdout: false once writing failed.
   */
  flush(): boolean {
    if (!this.durable) return this.failed === undefined;
    if (this.chunkLines === 0) return true;
    if (this.fd === undefined) {
      try {
        this.openFile();
      } catch (e) {
        this.fail(e as Error);
        return false;
      }
    }
    const buf = Buffer.from(this.chunk.join(''));
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd!, buf, off);
    } catch (e) {
      const whole = off === 0 ? 0 : buf.lastIndexOf(0x0a, off - 1) + 1;
      const rest = buf.subarray(whole).toString();
      const restLines = countLines(rest);
      this.confirmed += this.chunkLines - restLines;
      this.fileSize += whole;
      if (whole < off) this.truncateToWholeLines();
      this.chunk = [rest];
      this.chunkBytes = rest.length;
      this.chunkLines = restLines;
      this.fail(e as Error);
      return false;
    }
    if (this.failed !== undefined) log.info({ file: this.target }, `writing ${this.target} works again`);
    this.failed = undefined;
    this.reported = false;
    this.confirmed += this.chunkLines;
    this.fileSize += buf.length;
    this.chunk = [];
    this.chunkBytes = 0;
    this.chunkLines = 0;
    this.rotateIfDue();
    return this.failed === undefined;
  }

  /**
   * Streamed file: resolves once every line accepted so far has been
   * written or has failed (and the failure was reported through `onFail`),
   * so a run can record an output's failure before it closes its audit log.
   */
  async settle(): Promise<void> {
    if (this.durable || this.isStdout) return;
    this.ship();
    if (this.inflight || this.queue.length > 0) await new Promise<void>((r) => this.idle.push(r));
  }

  /** Writes what is accepted (as far as the disk takes it) and closes; never rejects. */
  async close(): Promise<void> {
    if (this.durable) {
      this.flush();
      if (this.fd !== undefined) closeSync(this.fd);
      return;
    }
    if (this.isStdout) {
      this.ship();
      // stdout stays open for the process; wait for what we wrote to drain
      if (process.stdout.writableNeedDrain && this.failed === undefined) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
      process.stdout.off('error', this.onStdoutError);
      return;
    }
    await this.settle();
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
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
