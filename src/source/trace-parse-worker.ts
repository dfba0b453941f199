import { parentPort, workerData } from 'node:worker_threads';
import { ChainwatchError } from '../util/errors.js';
import { PackedWriter } from '../util/packed-values.js';
import { parseTraceFile, type ParseWorkerMessage } from './trace-parser.js';
import { keepsLine, RecordedLinesWriter } from './recorded-lines.js';

/**
 * The worker behind `readTrace`: reads, decompresses, splits, parses and
 * validates a trace off the pipeline's thread and posts its events in
 * batches of packed values (`util/packed-values.ts`), in order. At most
 * MAX_UNACKED batches are in flight: the reader acknowledges each when it
 * has handed its events on, so a slow pipeline holds the reading back and
 * memory stays flat.
 */

const BATCH_EVENTS = 4096;
const MAX_UNACKED = 4;

const port = parentPort!;
const { file, keepLines } = workerData as { file: string; keepLines?: boolean };
const post = (m: ParseWorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

const w = new PackedWriter();
// each event's line as the file holds it, beside the events, when the reader asked for them (recorded-lines.ts)
const recorded = keepLines === true ? new RecordedLinesWriter() : undefined;
let unacked = 0;
let wake: (() => void) | undefined;
port.on('message', () => {
  unacked--;
  wake?.();
});
let lines = 0;
let bytesRead = 0;

function flush(): void {
  if (w.count === 0) return;
  const count = w.count;
  const bytes = w.take();
  unacked++;
  if (recorded === undefined) {
    post({ type: 'events', bytes, count, lines, bytesRead }, [bytes]);
    return;
  }
  const r = recorded.take();
  post({ type: 'events', bytes, count, lines, bytesRead, recorded: r }, [bytes, r.bytes, r.ends]);
}

parseTraceFile(file, {
  header: (h) => post({ type: 'header', header: h }),
  event: (ev, line, asParsed) => {
    w.write(ev);
    recorded?.add(keepsLine(ev, line, asParsed) ? line : undefined);
  },
  chunk: async (read, l) => {
    bytesRead = read;
    lines = l;
    if (w.count < BATCH_EVENTS) return;
    flush();
    while (unacked >= MAX_UNACKED) await new Promise<void>((r) => (wake = r));
  },
}).then(
  (r) => {
    flush();
    post({ type: 'end', fileBytes: r.fileBytes, lines: r.lines, bytesRead, ...(r.cut !== undefined && { cut: r.cut }) });
  },
  (e: unknown) => {
    // every event before the bad line goes first
    flush();
    const err = e instanceof ChainwatchError ? e : new ChainwatchError('IO', `cannot read trace: ${(e as Error).message}`, { where: file, fix: 'check the file and the disk' });
    post({ type: 'error', code: err.code, message: err.message, ...(err.where !== undefined && { where: err.where }), ...(err.fix !== undefined && { fix: err.fix }) });
  },
);
