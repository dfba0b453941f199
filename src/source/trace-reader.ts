import { spawn } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Observable, defaultIfEmpty, lastValueFrom, take } from 'rxjs';
import { checkEvent, type Event } from '../schema/event.js';
import { TraceHeader } from '../schema/trace-header.js';
import { compressionOf } from '../util/compression.js';
import { ChainwatchError, formatIssues } from '../util/errors.js';

/** Where a trace stopped being readable, if it did: the reader keeps everything before. */
export interface TraceCut {
  /** The last whole line read (1-based; the header is line 1). */
  lastWholeLine: number;
  reason: string;
}

export interface TraceReadStats {
  file: string;
  /** Size of the file on disk (compressed size for .gz/.zst). */
  fileBytes: number;
  /** Bytes of the file consumed so far (for progress). */
  fileBytesRead: number;
  lines: number;
  events: number;
  cut?: TraceCut;
}

export interface ReadTraceOptions {
  /** Called once with the header before any event. */
  onHeader?: (h: TraceHeader) => void;
  /**
   * Pace events by their timestamps: 1 = as recorded, 10 = ten times
   * faster; undefined = as fast as possible.
   */
  speed?: number;
}

/**
 * Reads a chainwatch trace (JSON Lines: header, then canonical events) as an
 * Observable of events, validating every line. A cut-off tail (a last line
 * with no newline, a compressed stream that ends early) is what a crash or a
 * full disk leaves: everything before it is delivered and `stats.cut` says
 * where it stopped. A bad line in the middle is an error naming the file and
 * line, raised after every event before it has been delivered.
 */
export function readTrace(file: string, stats: TraceReadStats, o: ReadTraceOptions = {}): Observable<Event> {
  return new Observable<Event>((sub) => {
    let raw: Readable;
    let child: ReturnType<typeof spawn> | undefined;
    try {
      stats.fileBytes = statSync(file).size;
      raw = createReadStream(file);
    } catch (e) {
      sub.error(new ChainwatchError('IO', `cannot read trace: ${(e as Error).message}`, { where: file, fix: 'check the path and permissions' }));
      return;
    }
    raw.on('data', (c: Buffer | string) => (stats.fileBytesRead += c.length));
    const kind = compressionOf(file);
    let input: Readable = raw;
    if (kind === 'gzip') input = raw.pipe(createGunzip());
    else if (kind === 'zstd') {
      child = spawn('zstd', ['-dc', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
      raw.pipe(child.stdin!);
      child.stdin!.on('error', () => undefined);
      input = child.stdout!;
    }
    let cancelled = false;
    const t0 = performance.now();
    let firstTs: number | undefined;
    const pace = async (ts: number): Promise<void> => {
      if (o.speed === undefined) return;
      firstTs ??= ts;
      const due = (ts - firstTs) / 1e6 / o.speed;
      const wait = due - (performance.now() - t0);
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    };
    const where = (line: number): string => `${file}:${line}`;
    const handle = (text: string, line: number): Event | 'header' => {
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        throw new ChainwatchError('TRACE_INVALID', `not JSON: ${(e as Error).message}`, {
          where: where(line),
          fix: 'a trace is JSON Lines written by chainwatch watch --record; cut the file before this line to replay the rest',
        });
      }
      if (line === 1) {
        const h = TraceHeader.safeParse(obj);
        if (!h.success)
          throw new ChainwatchError('TRACE_INVALID', `not a chainwatch trace header: ${formatIssues(h.error.issues)}`, {
            where: where(1),
            fix: 'the first line of a trace is its header, written by chainwatch watch --record (sysdig and LID-DS recordings: chainwatch import)',
          });
        o.onHeader?.(h.data);
        return 'header';
      }
      const ev = checkEvent(obj);
      if (!ev.success)
        throw new ChainwatchError('TRACE_INVALID', `not a canonical event: ${formatIssues(ev.error.issues)}`, {
          where: where(line),
          fix: 'see docs/trace-format.md and docs/schemas/event.schema.json; cut the file before this line to replay the rest',
        });
      return ev.data;
    };

    const run = async (): Promise<void> => {
      let rest = '';
      let line = 0;
      const emit = (r: Event): void => {
        stats.events++;
        sub.next(r);
      };
      /** One line: the event to emit after pacing, or undefined (header). */
      const parseLine = (text: string): Event | undefined => {
        line++;
        stats.lines = line;
        const r = handle(text, line);
        return r === 'header' ? undefined : r;
      };
      try {
        input.setEncoding('utf8');
        for await (const chunk of input as AsyncIterable<string>) {
          if (cancelled) return;
          let start = 0;
          const text = rest + chunk;
          for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
            const l = text.slice(start, nl);
            start = nl + 1;
            if (l.length === 0) continue;
            const ev = parseLine(l);
            if (ev === undefined) continue;
            if (o.speed !== undefined) await pace(ev.ts);
            emit(ev);
            if (cancelled) return;
          }
          rest = text.slice(start);
        }
      } catch (e) {
        if (cancelled) return;
        if (e instanceof ChainwatchError) throw e;
        if (kind === 'none') throw new ChainwatchError('IO', `cannot read trace: ${(e as Error).message}`, { where: `${file}:${line + 1}`, fix: 'check the file and the disk' });
        // a compressed stream that ends early (crash, kill -9, full disk): keep what was whole
        stats.cut = { lastWholeLine: line, reason: `${kind} stream ends early (${(e as Error).message})` };
        return;
      }
      if (child !== undefined) {
        const code: number | null = child.exitCode ?? (await new Promise<number | null>((r) => child!.once('close', r)));
        if (code !== 0 && stats.cut === undefined) stats.cut = { lastWholeLine: line, reason: `zstd stream ends early (zstd exit ${code})` };
      }
      if (rest.length > 0) {
        // no final newline: the writer was interrupted; keep the line only if it is whole
        let ev: Event | undefined;
        try {
          ev = parseLine(rest);
        } catch {
          stats.cut = { lastWholeLine: line - 1, reason: `line ${line} is cut off (no newline, not a whole event)` };
        }
        if (ev !== undefined) {
          emit(ev);
          stats.cut ??= { lastWholeLine: line, reason: 'last line has no newline (its event was whole and is kept)' };
        }
      }
      if (line === 0) throw new ChainwatchError('TRACE_INVALID', 'empty trace: no header', { where: file, fix: 'record one with chainwatch watch --record FILE' });
    };
    run().then(
      () => sub.complete(),
      (e: unknown) => sub.error(e),
    );
    return () => {
      cancelled = true;
      raw.destroy();
      child?.kill();
    };
  });
}

export function newTraceReadStats(file: string): TraceReadStats {
  return { file, fileBytes: 0, fileBytesRead: 0, lines: 0, events: 0 };
}

/** The header of a trace (reads only its first line). */
export async function readTraceHeader(file: string): Promise<TraceHeader> {
  let header: TraceHeader | undefined;
  await lastValueFrom(readTrace(file, newTraceReadStats(file), { onHeader: (h) => (header = h) }).pipe(take(1), defaultIfEmpty(undefined)));
  if (header === undefined) throw new ChainwatchError('TRACE_INVALID', 'no header line', { where: file, fix: 'record one with chainwatch watch --record FILE' });
  return header;
}
