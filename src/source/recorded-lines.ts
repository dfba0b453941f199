import { carriesResolution, type Event } from '../schema/event.js';

/**
 * The lines of a trace as the file holds them, handed from the parse worker
 * beside its events, for a consumer that stores each event as recorded
 * (`chainwatch load`: the `events.event` column). Writing the line's own
 * bytes spares the pipeline's thread a `JSON.stringify` of every event.
 *
 * A line is kept only when it is exactly the event's JSON: the fast check
 * took the parsed object as it was (zod did not strip or transform
 * anything), it carries nothing the state attaches (`res`, `abs`, `proc`),
 * and it holds no tab or carriage return (JSON whitespace a hand-edited
 * line may have, which the loader's tab-separated spool cannot carry).
 * Any other line is marked as not kept, and the consumer makes the JSON
 * from the event as before.
 */
export function keepsLine(ev: Event, line: string, asParsed: boolean): boolean {
  return asParsed && !carriesResolution(ev) && line.indexOf('\t') < 0 && line.indexOf('\r') < 0;
}

/** A batch of lines: their UTF-8 bytes one after another, and per event where its line ends (-1: not kept). */
export interface RecordedLinesBatch {
  bytes: ArrayBuffer;
  ends: ArrayBuffer;
}

/** Collects a batch's lines in the worker (one entry per event, in order). */
export class RecordedLinesWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  private ends: number[] = [];

  /** The event's line, or undefined when it is not kept (see keepsLine). */
  add(line: string | undefined): void {
    if (line === undefined) {
      this.ends.push(-1);
      return;
    }
    const most = line.length * 3;
    if (this.pos + most > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + most));
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
    }
    this.pos += this.buf.write(line, this.pos, 'utf8');
    this.ends.push(this.pos);
  }

  /** The lines since the last call, as buffers of their own (to transfer). */
  take(): RecordedLinesBatch {
    const bytes = new ArrayBuffer(this.pos);
    new Uint8Array(bytes).set(this.buf.subarray(0, this.pos));
    const ends = new Int32Array(this.ends).buffer;
    this.pos = 0;
    this.ends = [];
    return { bytes, ends };
  }
}

/**
 * The line of the event being handed on (set by the trace reader just
 * before it hands the event on): valid for that event only, which the
 * consumer checks by identity (`line.ev === ev`), so an event that reaches
 * it some other way, or a stage that made a new event, falls back to the
 * event's own JSON.
 */
export class RecordedLine {
  ev: Event | undefined = undefined;
  bytes: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
}

/** Reads a batch back, entry by entry, into a RecordedLine. */
export class RecordedLinesReader {
  private bytes: Buffer = Buffer.alloc(0);
  private ends = new Int32Array(0);
  private i = 0;
  private at = 0;

  feed(batch: RecordedLinesBatch): void {
    this.bytes = Buffer.from(batch.bytes);
    this.ends = new Int32Array(batch.ends);
    this.i = 0;
    this.at = 0;
  }

  /** The next entry, for `ev`: sets `into` to its line, or clears it when the line was not kept. */
  next(ev: Event, into: RecordedLine): void {
    const end = this.i < this.ends.length ? this.ends[this.i]! : -1;
    this.i++;
    if (end < 0) {
      into.ev = undefined;
      return;
    }
    into.ev = ev;
    into.bytes = this.bytes;
    into.start = this.at;
    into.end = end;
    this.at = end;
  }
}
