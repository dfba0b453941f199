import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Observable } from 'rxjs';
import type { Event } from '../schema/event.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { compressionOf } from '../util/compression.js';
import { ChainwatchError } from '../util/errors.js';
import { PackedReader } from '../util/packed-values.js';
import { workerFile } from '../util/worker-file.js';
import { parseTraceFile, type ParseWorkerMessage, type TraceCut } from './trace-parser.js';
import { RecordedLinesReader, type RecordedLine } from './recorded-lines.js';

export type { TraceCut } from './trace-parser.js';

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
  /** Parse in a worker thread: by default for traces big enough to be worth one (WORKER_MIN_BYTES). */
  worker?: boolean;
  /**
   * Set, before each event is handed on, to that event's line as the file
   * holds it, when the line is exactly the event (recorded-lines.ts); only
   * when the trace is parsed in a worker (a small trace's events come
   * without: the consumer makes their JSON itself).
   */
  recordedLine?: RecordedLine;
}

/**
 * Reads a chainwatch trace (JSON Lines: header, then canonical events) as an
 * Observable of events, every line validated (`trace-parser.ts`). For a
 * big trace the reading, decompressing, parsing and validating run in a
 * worker thread (`trace-parse-worker.ts`), beside the pipeline instead of
 * before it on the same core; its events arrive in order, in batches of
 * packed values. The same parser runs on this thread for a small one.
 * A cut-off tail is kept up to its last whole line (`stats.cut` says
 * where); a bad line in the middle is an error naming the file and line,
 * raised after every event before it has been delivered.
 */
export function readTrace(file: string, stats: TraceReadStats, o: ReadTraceOptions = {}): Observable<Event> {
  return new Observable<Event>((sub) => {
    try {
      stats.fileBytes = statSync(file).size;
    } catch {
      // the parser says why it cannot read the file
    }
    let closed = false;
    let stopWorker: (() => void) | undefined;
    // the recorded time of the first event and when it was handed on: later events keep their distance from it
    let firstTs: number | undefined;
    let t0 = 0;
    /** Hands `count` events on, each from `next`, paced when asked to. */
    const deliver = async (count: number, next: () => Event): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const ev = next();
        if (o.speed !== undefined) {
          if (firstTs === undefined) {
            firstTs = ev.ts;
            t0 = performance.now();
          }
          const wait = (ev.ts - firstTs) / 1e6 / o.speed - (performance.now() - t0);
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        }
        if (closed) return;
        stats.events++;
        sub.next(ev);
        if (closed) return;
      }
    };
    const onHeader = (h: TraceHeader): void => {
      stats.lines = 1;
      o.onHeader?.(h);
    };
    const end = (fileBytes: number, bytesRead: number, lines: number, cut: TraceCut | undefined): void => {
      stats.fileBytes = fileBytes;
      stats.fileBytesRead = bytesRead;
      stats.lines = lines;
      if (cut !== undefined) stats.cut = cut;
      closed = true;
      sub.complete();
    };
    const fail = (e: unknown): void => {
      closed = true;
      sub.error(e);
    };
    const compressed = compressionOf(file) !== 'none';
    if (o.worker ?? (stats.fileBytes >= (compressed ? WORKER_MIN_COMPRESSED_BYTES : WORKER_MIN_BYTES))) {
      stopWorker = inWorker(file, stats, { onHeader, deliver, end, fail, closed: () => closed }, o.recordedLine);
    } else {
      // on this thread: each piece's events handed on once the piece is parsed
      let pending: Event[] = [];
      const flush = async (): Promise<void> => {
        const evs = pending;
        pending = [];
        let i = 0;
        await deliver(evs.length, () => evs[i++]!);
      };
      parseTraceFile(
        file,
        {
          header: onHeader,
          event: (ev) => pending.push(ev),
          chunk: async (bytesRead, lines) => {
            await flush();
            stats.lines = lines;
            stats.fileBytesRead = bytesRead;
          },
        },
        { isCancelled: () => closed },
      ).then(
        async (r) => {
          await flush();
          if (!closed) end(r.fileBytes, stats.fileBytesRead, r.lines, r.cut);
        },
        async (e: unknown) => {
          // every event before the bad line goes first
          await flush();
          if (!closed) fail(e);
        },
      );
    }
    return () => {
      closed = true;
      stopWorker?.();
    };
  });
}

/** Traces at least this big are parsed in a worker thread; a smaller one is read before a worker would have started. */
export const WORKER_MIN_BYTES = 4 << 20;
const WORKER_MIN_COMPRESSED_BYTES = 512 << 10;

interface WorkerHooks {
  onHeader(h: TraceHeader): void;
  deliver(count: number, next: () => Event): Promise<void>;
  end(fileBytes: number, bytesRead: number, lines: number, cut: TraceCut | undefined): void;
  fail(e: unknown): void;
  closed(): boolean;
}

/** Runs the parser in `trace-parse-worker.ts`; returns how to stop it. */
function inWorker(file: string, stats: TraceReadStats, h: WorkerHooks, recordedLine: RecordedLine | undefined): () => void {
  let worker: Worker;
  try {
    worker = new Worker(workerFile(import.meta.url, 'source/trace-parse-worker.js'), { workerData: { file, keepLines: recordedLine !== undefined } });
  } catch (e) {
    h.fail(e instanceof ChainwatchError ? e : new ChainwatchError('IO', `cannot start the trace reader: ${(e as Error).message}`, { where: file, fix: 'npm run build' }));
    return () => undefined;
  }
  const stop = (): void => void worker.terminate();
  const reader = new PackedReader();
  const lines = recordedLine === undefined ? undefined : new RecordedLinesReader();
  const handle = async (m: ParseWorkerMessage): Promise<void> => {
    switch (m.type) {
      case 'header':
        h.onHeader(m.header);
        return;
      case 'events':
        reader.feed(m.bytes);
        if (lines !== undefined && m.recorded !== undefined) {
          lines.feed(m.recorded);
          await h.deliver(m.count, () => {
            const ev = reader.next() as Event;
            lines.next(ev, recordedLine!);
            return ev;
          });
        } else await h.deliver(m.count, () => reader.next() as Event);
        stats.lines = m.lines;
        stats.fileBytesRead = m.bytesRead;
        worker.postMessage('ack');
        return;
      case 'end':
        stop();
        h.end(m.fileBytes, m.bytesRead, m.lines, m.cut);
        return;
      case 'error':
        stop();
        h.fail(new ChainwatchError(m.code, m.message, { ...(m.where !== undefined && { where: m.where }), ...(m.fix !== undefined && { fix: m.fix }) }));
    }
  };
  // messages are handled one after another, each whole (pacing makes handling asynchronous)
  const queue: ParseWorkerMessage[] = [];
  let busy = false;
  const drain = async (): Promise<void> => {
    busy = true;
    try {
      while (queue.length > 0 && !h.closed()) await handle(queue.shift()!);
    } catch (e) {
      stop();
      if (!h.closed()) h.fail(e);
    } finally {
      busy = false;
    }
  };
  worker.on('message', (m: ParseWorkerMessage) => {
    queue.push(m);
    if (!busy) void drain();
  });
  worker.on('error', (e) => {
    if (h.closed()) return;
    stop();
    h.fail(new ChainwatchError('IO', `the trace reader failed: ${e.message}`, { where: file, fix: 'report this with the trace that caused it' }));
  });
  worker.on('exit', (code) => {
    if (h.closed()) return;
    // an exit before 'end' or 'error' was handled: queued messages go first
    queue.push({ type: 'error', code: 'IO', message: `the trace reader stopped (exit code ${code})`, where: file, fix: 'report this with the trace that caused it' });
    if (!busy) void drain();
  });
  return stop;
}

export function newTraceReadStats(file: string): TraceReadStats {
  return { file, fileBytes: 0, fileBytesRead: 0, lines: 0, events: 0 };
}

/** The header of a trace (reads only its first line, on this thread). */
export async function readTraceHeader(file: string): Promise<TraceHeader> {
  let header: TraceHeader | undefined;
  await parseTraceFile(file, { header: (h) => (header = h), event: () => undefined }, { headerOnly: true });
  if (header === undefined) throw new ChainwatchError('TRACE_INVALID', 'no header line', { where: file, fix: 'record one with chainwatch watch --record FILE' });
  return header;
}
