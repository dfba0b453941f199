import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { Event } from '../schema/event.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { compressionOf } from '../util/compression.js';

/** How often a compressed recording is flushed, bounding what a crash can lose. */
const FLUSH_MS = 1000;

/** Recording in segments: an always-on recording does not fill the disk. */
export interface TraceRotation {
  /** A new segment starts once about this many bytes (uncompressed JSON) went into the current one. */
  bytes: number;
  /** Earlier segments of this run kept beside the current one (the oldest are removed); all when undefined. */
  keep?: number;
  /** The analysis state as canonical events at kernel time `ts`: what a later segment starts with, so it replays on its own. */
  snapshot: (ts: number) => Event[];
}

/** One file being written: plain, gzip (flushed every second) or zstd (through Debian's zstd). */
class SegmentWriter {
  private readonly out: Writable;
  private readonly gzip: Gzip | undefined;
  private readonly zstd: ChildProcess | undefined;
  private readonly file: Writable | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  bytes = 0;

  constructor(target: string) {
    const kind = compressionOf(target);
    if (kind === 'zstd') {
      const fd = openSync(target, 'w');
      this.zstd = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', fd, 'inherit'] });
      closeSync(fd);
      this.out = this.zstd.stdin!;
    } else {
      // opened now, not on a later tick: a rotation moves the file by name right away
      this.file = createWriteStream(target, { fd: openSync(target, 'w') });
      if (kind === 'gzip') {
        this.gzip = createGzip({ level: 6 });
        this.gzip.pipe(this.file);
        this.out = this.gzip;
        this.timer = setInterval(() => this.gzip!.flush(constants.Z_SYNC_FLUSH), FLUSH_MS).unref();
      } else {
        this.out = this.file;
      }
    }
  }

  /** Bytes of the stream's own events in this segment (not its header and state events). */
  streamBytes = 0;

  write(obj: unknown): void {
    const line = `${JSON.stringify(obj)}\n`;
    this.bytes += line.length;
    this.out.write(line);
  }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return new Promise((resolve, reject) => {
      if (this.zstd) {
        this.zstd.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited with ${code}`))));
        this.out.end();
        return;
      }
      this.file!.once('error', reject);
      this.file!.once('close', () => resolve());
      this.out.end();
    });
  }
}

/**
 * Writes a trace: the header line, then one canonical event per line, as
 * they left the reorder stage (ordered, named, before resolution: the state
 * stage re-derives resolution on replay). Lines are whole or absent: a
 * crash leaves a readable prefix. A name ending in `.gz` is gzip, flushed
 * every second (a cut-off file decompresses up to the last flush); `.zst`
 * is zstd through Debian's `zstd`, which finishes the frame itself when we
 * die, since it only sees its input end.
 *
 * With rotation, the file at the target path is always the newest segment:
 * once it holds `bytes`, it is moved aside (`NAME.N.EXT`, the next free N)
 * and a new one starts with a header naming the run and the segment's
 * index, then the state as `task.cgroup` / `snapshot.*` events (counted in
 * the header), so each segment replays on its own and consecutive
 * segments replay as one stream.
 */
export class TraceRecorder {
  private seg: SegmentWriter;
  private readonly closing: Promise<void>[] = [];
  private readonly segments: string[] = [];
  private readonly run = randomUUID();
  private index = 0;
  private lines = 0;
  /** Segments removed to keep within `keep`. */
  removed = 0;

  /** Where an earlier trace at the same path was moved, if there was one. */
  readonly keptPrevious: string | undefined;

  constructor(
    private readonly target: string,
    private readonly header: TraceHeader,
    private readonly rotation?: TraceRotation,
  ) {
    // a trace is one run: an earlier one at this path (a restarted watch) is moved aside, never overwritten
    this.keptPrevious = moveAside(target);
    this.seg = new SegmentWriter(target);
    this.seg.write(rotation ? { ...header, segment: { run: this.run, index: 0, snapshot_events: 0 } } : header);
  }

  record(ev: Event): void {
    if (this.rotation !== undefined && this.seg.streamBytes >= this.rotation.bytes) this.rotate(ev.ts);
    const before = this.seg.bytes;
    this.seg.write(ev);
    this.seg.streamBytes += this.seg.bytes - before;
    this.lines++;
  }

  private rotate(ts: number): void {
    const r = this.rotation!;
    // the file is moved while still being written (its buffered tail still lands in it), then closed
    const aside = freeNumberedName(this.target);
    renameSync(this.target, aside);
    this.closing.push(this.seg.close());
    this.segments.push(aside);
    while (r.keep !== undefined && this.segments.length > r.keep) {
      rmSync(this.segments.shift()!, { force: true });
      this.removed++;
    }
    const snap = r.snapshot(ts);
    this.index++;
    this.seg = new SegmentWriter(this.target);
    this.seg.write({ ...this.header, segment: { run: this.run, index: this.index, snapshot_events: snap.length } });
    for (const ev of snap) this.seg.write(ev);
  }

  /** Events recorded (the state events that start later segments not counted). */
  get events(): number {
    return this.lines;
  }

  /** Segments started after the first. */
  get rotations(): number {
    return this.index;
  }

  async close(): Promise<void> {
    this.closing.push(this.seg.close());
    await Promise.all(this.closing);
  }
}

/** `run.trace.jsonl.gz` → `run.N.trace.jsonl.gz`: the number before the extensions, so the compression is still known by name. */
export function numberedName(target: string, n: number): string {
  const slash = target.lastIndexOf('/') + 1;
  const dot = target.indexOf('.', slash + 1);
  return dot < 0 ? `${target}.${n}` : `${target.slice(0, dot)}.${n}${target.slice(dot)}`;
}

/** Renames a non-empty file at `target` to a free numbered name beside it (N from 1); returns the new name. */
function moveAside(target: string): string | undefined {
  let size: number;
  try {
    const st = statSync(target);
    if (!st.isFile()) return undefined;
    size = st.size;
  } catch {
    return undefined;
  }
  if (size === 0) return undefined;
  const aside = freeNumberedName(target);
  renameSync(target, aside);
  return aside;
}

/** `NAME.N.EXT` with N one above every N beside it (from 1): later means larger, even after older ones were removed. */
function freeNumberedName(target: string): string {
  const base = basename(target);
  const dot = base.indexOf('.', 1);
  const [head, tail] = dot < 0 ? [base, ''] : [base.slice(0, dot), base.slice(dot)];
  let max = 0;
  for (const f of readdirSync(dirname(target))) {
    if (f.length <= head.length + tail.length + 1 || !f.startsWith(`${head}.`) || !f.endsWith(tail)) continue;
    const n = f.slice(head.length + 1, f.length - tail.length);
    if (/^\d{1,9}$/.test(n) && Number(n) > max) max = Number(n);
  }
  return numberedName(target, max + 1);
}
