import { spawn } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { checkEvent, type Event } from '../schema/event.js';
import { TraceHeader } from '../schema/trace-header.js';
import { compressionOf } from '../util/compression.js';
import { ChainwatchError, formatIssues } from '../util/errors.js';
import type { RecordedLinesBatch } from './recorded-lines.js';

/** Where a trace stopped being readable, if it did: the reader keeps everything before. */
export interface TraceCut {
  /** The last whole line read (1-based; the header is line 1). */
  lastWholeLine: number;
  reason: string;
}

export interface TraceParseSink {
  header(h: TraceHeader): void;
  /**
   * One validated event, with its line; `asParsed`: the event is the line's
   * JSON exactly as parsed (the fast check took it as it was; zod, which
   * strips and transforms, did not have to).
   */
  event(ev: Event, line: string, asParsed: boolean): void;
  /** After each piece of the file read (`bytesRead`: of the file on disk); awaited, so the receiver can hold the reading back. */
  chunk?(bytesRead: number, lines: number): Promise<void> | void;
}

export interface TraceParseResult {
  fileBytes: number;
  lines: number;
  cut?: TraceCut;
}

/** Pieces read from a plain trace at a time (a compressed one is read as the decompressor hands it over). */
const READ_BYTES = 1 << 20;

/**
 * The size of a trace file, or a usage error when there is none at that
 * path or it is a folder (exit 2, before anything is read or made).
 */
export function traceFileSize(file: string): number {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ChainwatchError('USAGE', 'no such trace', { where: file, fix: 'check the path' });
    throw new ChainwatchError('IO', `cannot read trace: ${(e as Error).message}`, { where: file, fix: 'check the path and permissions' });
  }
  if (st.isDirectory()) throw new ChainwatchError('USAGE', 'is a folder, not a trace', { where: file, fix: `name its traces: ${file.replace(/\/+$/, '')}/*.trace.jsonl*` });
  return st.size;
}

/**
 * Reads a chainwatch trace (JSON Lines: header, then canonical events),
 * validating every line, and hands each to `sink` in order. A cut-off tail
 * (a last line with no newline, a compressed stream that ends early) is what
 * a crash or a full disk leaves: everything before it is handed over and the
 * result's `cut` says where it stopped. A bad line in the middle throws an
 * error naming the file and line, after every event before it was handed
 * over. `headerOnly` stops after the first line.
 */
export async function parseTraceFile(file: string, sink: TraceParseSink, o: { headerOnly?: boolean; isCancelled?: () => boolean } = {}): Promise<TraceParseResult> {
  let raw: Readable;
  let child: ReturnType<typeof spawn> | undefined;
  let fileBytes: number;
  try {
    fileBytes = traceFileSize(file);
    // the header alone needs no megabyte read
    raw = createReadStream(file, { highWaterMark: o.headerOnly === true ? 64 << 10 : READ_BYTES });
  } catch (e) {
    if (e instanceof ChainwatchError) throw e;
    throw new ChainwatchError('IO', `cannot read trace: ${(e as Error).message}`, { where: file, fix: 'check the path and permissions' });
  }
  let bytesRead = 0;
  raw.on('data', (c: Buffer | string) => (bytesRead += c.length));
  const kind = compressionOf(file);
  let input: Readable = raw;
  if (kind === 'gzip') input = raw.pipe(createGunzip({ chunkSize: READ_BYTES }));
  else if (kind === 'zstd') {
    child = spawn('zstd', ['-dc', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
    raw.pipe(child.stdin!);
    child.stdin!.on('error', () => undefined);
    input = child.stdout!;
  }
  const result: TraceParseResult = { fileBytes, lines: 0 };
  const where = (line: number): string => `${file}:${line}`;
  /** One line: the header (line 1) or an event. */
  const parseLine = (text: string): void => {
    const line = ++result.lines;
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
      sink.header(h.data);
      return;
    }
    const ev = checkEvent(obj);
    if (!ev.success)
      throw new ChainwatchError('TRACE_INVALID', `not a canonical event: ${formatIssues(ev.error.issues)}`, {
        where: where(line),
        fix: 'see docs/trace-format.md and docs/schemas/event.schema.json; cut the file before this line to replay the rest',
      });
    sink.event(ev.data, text, ev.data === obj);
  };
  const cancelled = (): boolean => o.headerOnly === true ? result.lines >= 1 : (o.isCancelled?.() ?? false);
  let rest = '';
  // decoded here, not by the stream: the file's own 'data' events then count bytes, not characters
  const utf8 = new StringDecoder('utf8');
  try {
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        if (cancelled()) return result;
        let start = 0;
        const text = rest + utf8.write(chunk);
        for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
          const l = text.slice(start, nl);
          start = nl + 1;
          if (l.length === 0) continue;
          parseLine(l);
          if (cancelled()) return result;
        }
        rest = text.slice(start);
        await sink.chunk?.(bytesRead, result.lines);
      }
    } catch (e) {
      if (e instanceof ChainwatchError) throw e;
      if (kind === 'none') throw new ChainwatchError('IO', `cannot read trace: ${(e as Error).message}`, { where: `${file}:${result.lines + 1}`, fix: 'check the file and the disk' });
      // a compressed stream that ends early (crash, kill -9, full disk): keep what was whole
      result.cut = { lastWholeLine: result.lines, reason: `${kind} stream ends early (${(e as Error).message})` };
      return result;
    }
    if (child !== undefined) {
      const code: number | null = child.exitCode ?? (await new Promise<number | null>((r) => child!.once('close', r)));
      if (code !== 0 && result.cut === undefined) result.cut = { lastWholeLine: result.lines, reason: `zstd stream ends early (zstd exit ${code})` };
    }
    rest += utf8.end();
    if (rest.length > 0) {
      // no final newline: the writer was interrupted; keep the line only if it is whole
      const before = result.lines;
      try {
        parseLine(rest);
        result.cut ??= { lastWholeLine: result.lines, reason: 'last line has no newline (its event was whole and is kept)' };
      } catch {
        result.lines = before + 1;
        result.cut = { lastWholeLine: before, reason: `line ${before + 1} is cut off (no newline, not a whole event)` };
      }
    }
    if (result.lines === 0) throw new ChainwatchError('TRACE_INVALID', 'empty trace: no header', { where: file, fix: 'record one with chainwatch watch --record FILE' });
    await sink.chunk?.(bytesRead, result.lines);
    return result;
  } finally {
    raw.destroy();
    child?.kill();
  }
}

/** What the parse worker (`trace-parse-worker.ts`) posts to `readTrace`, in this order: header, events…, then end or error. */
export type ParseWorkerMessage =
  | { type: 'header'; header: TraceHeader }
  /** `count` events packed with `util/packed-values.ts`, up to line `lines`; `bytesRead` of the file so far. */
  | { type: 'events'; bytes: ArrayBuffer; count: number; lines: number; bytesRead: number; recorded?: RecordedLinesBatch }
  | { type: 'end'; fileBytes: number; lines: number; bytesRead: number; cut?: TraceCut }
  | { type: 'error'; code: ChainwatchError['code']; message: string; where?: string; fix?: string };
