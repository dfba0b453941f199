import { closeSync, openSync, writeSync } from 'node:fs';

/** The spool's buffer: lines are encoded into it and written out when the next one might not fit. */
const SPOOL_BYTES = 1 << 20;
const NEWLINE = Buffer.from('\n');
const NO_BYTES = Buffer.alloc(0);

/**
 * Appends lines to a file, synchronously (the pipeline that feeds it is),
 * each encoded as UTF-8 straight into one reused buffer that is written out
 * when full: no array of lines, no joined string, no second encoding. A line
 * too long for the buffer is written on its own.
 */
export class LineSpool {
  private readonly buf: Buffer;
  private at = 0;
  private readonly fd: number;
  lines = 0;

  constructor(
    readonly file: string,
    bufferBytes = SPOOL_BYTES,
  ) {
    this.buf = Buffer.allocUnsafe(bufferBytes);
    this.fd = openSync(file, 'w');
  }

  add(line: string): void {
    this.addJoined(line, NO_BYTES, 0, 0);
  }

  /** A line made of `head` and the UTF-8 bytes `bytes[start, end)` (text already encoded, copied as it is). */
  addJoined(head: string, bytes: Buffer, start: number, end: number): void {
    this.lines++;
    // a UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair 4 for two units)
    const most = head.length * 3 + (end - start) + 1;
    if (this.at + most > this.buf.length) {
      this.flush();
      if (most > this.buf.length) {
        this.writeAll(Buffer.concat([Buffer.from(head, 'utf8'), bytes.subarray(start, end), NEWLINE]));
        return;
      }
    }
    this.at += this.buf.write(head, this.at, 'utf8');
    this.at += bytes.copy(this.buf, this.at, start, end);
    this.buf[this.at++] = 0x0a;
  }

  flush(): void {
    if (this.at === 0) return;
    this.writeAll(this.buf.subarray(0, this.at));
    this.at = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private writeAll(b: Buffer): void {
    for (let done = 0; done < b.length; ) done += writeSync(this.fd, b, done, b.length - done);
  }
}
