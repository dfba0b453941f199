import fc from 'fast-check';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { lastValueFrom, take, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Event } from '../schema/event.js';
import { TraceRecorder } from '../sinks/trace-recorder.js';
import { numberedName } from '../util/output-paths.js';
import { ev } from '../testing/events.js';
import { testHeader } from '../testing/fixtures.js';
import { ChainwatchError } from '../util/errors.js';
import { newTraceReadStats, readTrace, WORKER_MIN_BYTES, type TraceReadStats } from './trace-reader.js';

const header = testHeader();

const dir = mkdtempSync(join(tmpdir(), 'cw-trace-'));
let n = 0;
const events: Event[] = [ev.seen(10), ev.open(10, 3, '0:1:2', '/etc/hostname'), ev.read(10, 3, 12), ev.close(10, 3), ev.fork(10, 11), ev.exit(11)];
const text = [header, ...events].map((x) => `${JSON.stringify(x)}\n`).join('');

async function readIn(file: string, worker?: boolean): Promise<{ got: Event[]; stats: TraceReadStats; error?: ChainwatchError }> {
  const stats = newTraceReadStats(file);
  const got: Event[] = [];
  try {
    await lastValueFrom(readTrace(file, stats, worker === undefined ? {} : { worker }).pipe(toArray())).then((xs) => got.push(...xs));
  } catch (e) {
    return { got, stats, error: e as ChainwatchError };
  }
  return { got, stats };
}

function write(name: string, content: string | Buffer): string {
  const file = join(dir, `${n++}-${name}`);
  writeFileSync(file, content);
  return file;
}

// each case on this thread (a small trace's way) and in the parse worker (a big trace's way)
describe.each([false, true])('readTrace (worker: %s)', (worker) => {
  const read = (file: string): ReturnType<typeof readIn> => readIn(file, worker);
  const runs = (n: number): number => (worker ? Math.ceil(n / 3) : n);

  it('reads a whole trace: every event, no cut', async () => {
    const r = await read(write('t.jsonl', text));
    expect(r.error).toBeUndefined();
    expect(r.got).toEqual(events);
    expect(r.stats.cut).toBeUndefined();
  });

  it('a trace cut at any byte yields exactly the whole lines before the cut, and says where', async () => {
    const headerLen = text.indexOf('\n') + 1;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: headerLen, max: text.length - 1 }), async (at) => {
        const prefix = text.slice(0, at);
        const r = await read(write('cut.jsonl', prefix));
        expect(r.error).toBeUndefined();
        const whole = prefix.split('\n').length - 1; // lines with their newline, header included
        if (prefix.endsWith('\n')) {
          expect(r.got).toEqual(events.slice(0, whole - 1));
          expect(r.stats.cut).toBeUndefined();
        } else if (prefix.endsWith('}')) {
          // cut exactly before a newline: the last event is whole and kept, the missing newline reported
          expect(r.got).toEqual(events.slice(0, whole));
          expect(r.stats.cut?.lastWholeLine).toBe(whole + 1);
        } else {
          expect(r.got).toEqual(events.slice(0, whole - 1));
          expect(r.stats.cut?.lastWholeLine).toBe(whole);
        }
      }),
      { numRuns: runs(60) },
    );
  }, 30_000);

  it('a gzip trace cut at any byte yields a prefix of the events and reports the cut, never an error', async () => {
    const gz = gzipSync(Buffer.from(text));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 20, max: gz.length - 1 }), async (at) => {
        const r = await read(write('cut.jsonl.gz', gz.subarray(0, at)));
        if (r.error) {
          // cut before the header was whole: nothing to replay, and it says so
          expect(r.error.code).toBe('TRACE_INVALID');
          expect(r.stats.events).toBe(0);
          return;
        }
        expect(events.slice(0, r.got.length)).toEqual(r.got);
        expect(r.stats.cut).toBeDefined();
      }),
      { numRuns: runs(40) },
    );
  }, 30_000);

  it('a corrupt line in the middle: an error naming file:line after the events before it', async () => {
    const lines = text.split('\n');
    lines[3] = lines[3]!.replace('"kind":"io"', '"kind":"iox"');
    const file = write('bad.jsonl', lines.join('\n'));
    const stats = newTraceReadStats(file);
    const seen: Event[] = [];
    const err = await new Promise<unknown>((resolve) => readTrace(file, stats, { worker }).subscribe({ next: (e) => seen.push(e), error: resolve, complete: () => resolve(undefined) }));
    expect(err).toBeInstanceOf(ChainwatchError);
    expect((err as ChainwatchError).code).toBe('TRACE_INVALID');
    expect((err as ChainwatchError).where).toBe(`${file}:4`);
    expect(seen).toEqual(events.slice(0, 2));
  });

  it('not a trace: the header line is named', async () => {
    const r = await read(write('nohdr.jsonl', `${JSON.stringify(events[0])}\n`));
    expect(r.error?.where).toMatch(/:1$/);
    expect(r.error?.message).toMatch(/header/);
  });

  it('a folder named as a trace: a usage error naming it and how to name its traces', async () => {
    const folder = mkdtempSync(join(dir, 'folder-'));
    const r = await read(folder);
    expect(r.error).toBeInstanceOf(ChainwatchError);
    expect(r.error?.code).toBe('USAGE');
    expect(r.error?.describe()).toBe(`${folder}: is a folder, not a trace (fix: name its traces: ${folder}/*.trace.jsonl*)`);
  });

  it('a second recording at the same path moves the first aside (numbered before its extensions), never overwrites it', async () => {
    const file = join(dir, `${n++}-again.trace.jsonl.gz`);
    for (const upTo of [2, 3]) {
      const rec = new TraceRecorder(file, header);
      for (const e of events.slice(0, upTo)) rec.record(e);
      await rec.close();
    }
    const first = file.replace('-again.trace', '-again.1.trace');
    expect(first).toMatch(/again\.1\.trace\.jsonl\.gz$/);
    expect((await read(first)).got).toEqual(events.slice(0, 2));
    expect((await read(file)).got).toEqual(events.slice(0, 3));
    expect(numberedName('/a/b/run', 2)).toBe('/a/b/run.2');
    expect(numberedName('/a.d/.hidden.jsonl', 1)).toBe('/a.d/.hidden.1.jsonl');
  });

  it('round-trips through the recorder in plain, gzip and zstd', async () => {
    for (const name of ['rt.jsonl', 'rt.jsonl.gz', 'rt.jsonl.zst']) {
      const file = join(dir, `${n++}-${name}`);
      const rec = new TraceRecorder(file, header);
      for (const e of events) rec.record(e);
      await rec.close();
      const r = await read(file);
      expect(r.error, name).toBeUndefined();
      expect(r.got, name).toEqual(events);
      if (name.endsWith('.gz')) expect(readFileSync(file)[0]).toBe(0x1f);
    }
  });
});

describe('readTrace of a big trace', () => {
  const bigTrace = (): { file: string; many: Event[] } => {
    const many: Event[] = [];
    for (let i = 0; many.length < 40_000; i++) many.push(ev.open(100 + (i % 50), 3 + (i % 7), `0:1:${i}`, `/srv/data/f-${i % 900}.txt`), ev.read(100 + (i % 50), 3 + (i % 7), i));
    return { file: write('big2.jsonl', [header, ...many].map((x) => `${JSON.stringify(x)}\n`).join('')), many };
  };

  it('a reader that stops early stops the worker: nothing is delivered after it unsubscribes', async () => {
    const { file, many } = bigTrace();
    let delivered = 0;
    const first = await lastValueFrom(readTrace(file, newTraceReadStats(file)).pipe(tap(() => delivered++), take(10), toArray()));
    expect(first).toEqual(many.slice(0, 10));
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered).toBe(10);
  });

  it('paces events by their timestamps through the worker as on this thread', async () => {
    // 40 events 10 ms apart: at speed 1 the last comes ~390 ms after the first
    const paced = Array.from({ length: 40 }, (_, i) => ({ ...ev.read(10, 3, i), ts: 1_000_000 + i * 10_000_000 }));
    const file = write('paced.jsonl', [header, ...paced].map((x) => `${JSON.stringify(x)}\n`).join(''));
    for (const worker of [true, false]) {
      const at: number[] = [];
      const t0 = performance.now();
      const got = await lastValueFrom(readTrace(file, newTraceReadStats(file), { speed: 1, worker }).pipe(tap(() => at.push(performance.now() - t0)), toArray()));
      expect(got, `worker ${worker}`).toEqual(paced);
      expect(at.at(-1)! - at[0]!, `worker ${worker}`).toBeGreaterThanOrEqual(350);
    }
  });

  it('parses it in the worker by default, with the same events, lines, bytes and cut as on this thread', async () => {
    const many: Event[] = [];
    for (let i = 0; many.length < 40_000; i++) many.push(ev.open(100 + (i % 50), 3 + (i % 7), `0:1:${i}`, `/srv/data/\u00e9t\u00e9-${i % 900}.txt`), ev.read(100 + (i % 50), 3 + (i % 7), i));
    const body = [header, ...many].map((x) => `${JSON.stringify(x)}\n`).join('');
    // cut in the middle of the last line: a crash's tail
    const file = write('big.jsonl', body.slice(0, body.length - 20));
    expect(statSync(file).size).toBeGreaterThan(WORKER_MIN_BYTES);
    const [byDefault, here] = [await readIn(file), await readIn(file, false)];
    expect(byDefault.error).toBeUndefined();
    expect(byDefault.got.length).toBe(many.length - 1);
    expect(byDefault.got).toEqual(here.got);
    expect(byDefault.got).toEqual(many.slice(0, -1));
    expect(byDefault.stats).toEqual(here.stats);
    expect(byDefault.stats.cut?.lastWholeLine).toBe(many.length);
    expect(byDefault.stats.fileBytesRead).toBe(statSync(file).size);
  }, 60_000);
});
