import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, renameSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { Event } from '../schema/event.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { compressionOf } from '../util/compression.js';
import { moduleLog } from '../util/log.js';
import { freeNumberedName, NumberedParts, openForWriting } from '../util/output-paths.js';

const log = moduleLog('sinks/trace-recorder');

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
  /** Why writing stopped (a full disk, zstd gone), if it did. */
  failed: string | undefined;

  constructor(
    readonly target: string,
    private readonly onFail: (why: string) => void,
  ) {
    const kind = compressionOf(target);
    if (kind === 'zstd') {
      const fd = openForWriting(target, 'w', 'the recording (--record)');
      this.zstd = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', fd, 'inherit'] });
      closeSync(fd);
      this.out = this.zstd.stdin!;
      this.zstd.on('error', (e) => this.fail(`zstd: ${e.message}`));
      this.zstd.on('exit', (code) => code !== 0 && this.fail(`zstd exited with ${code} (a full disk?)`));
    } else {
      // opened now, not on a later tick: a rotation moves the file by name right away
      this.file = createWriteStream(target, { fd: openForWriting(target, 'w', 'the recording (--record)') });
      if (kind === 'gzip') {
        this.gzip = createGzip({ level: 6 });
        this.gzip.pipe(this.file);
        this.out = this.gzip;
        this.timer = setInterval(() => this.gzip!.flush(constants.Z_SYNC_FLUSH), FLUSH_MS).unref();
      } else {
        this.out = this.file;
      }
      this.file.on('error', (e) => this.fail(e.message));
    }
    this.out.on('error', (e: Error) => this.fail(e.message));
  }

  /** Bytes of the stream's own events in this segment (not its header and state events). */
  streamBytes = 0;

  private fail(why: string): void {
    if (this.failed !== undefined) return;
    this.failed = why;
    this.onFail(why);
  }

  write(obj: unknown): void {
    if (this.failed !== undefined) return;
    const line = `${JSON.stringify(obj)}\n`;
    this.bytes += line.length;
    this.out.write(line);
  }

  /** Ends the file; a failure is reported through onFail, never thrown. */
  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return new Promise((resolve) => {
      if (this.zstd) {
        if (this.zstd.exitCode !== null) return resolve();
        this.zstd.once('close', () => resolve());
        this.out.end();
        return;
      }
      if (this.failed !== undefined) {
        this.out.destroy();
        this.file!.destroy();
        return resolve();
      }
      this.file!.once('close', () => resolve());
      this.out.end();
    });
  }
}

export interface RecorderOptions {
  /** Called when writing fails (for the audit log); the recorder has logged it. */
  onFail?: (file: string, why: string) => void;
  /** With rotation: after a failure, a new segment is tried this long later (default 60 s). */
  retryMs?: number;
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
  private readonly parts: NumberedParts;
  private run = randomUUID();
  private index = 0;
  private started = 1;
  private lines = 0;
  /** Why writing stopped (a full disk), while it is stopped; the events meanwhile are counted in `dropped`. */
  failed: string | undefined;
  /** The last failure, kept after the recording resumed. */
  lastFailure: string | undefined;
  dropped = 0;
  /** Times the recording resumed in a new segment after a failure. */
  resumed = 0;
  private failedAt = 0;

  /** Where an earlier trace at the same path was moved, if there was one. */
  readonly keptPrevious: string | undefined;

  constructor(
    readonly target: string,
    private readonly header: TraceHeader,
    private readonly rotation?: TraceRotation,
    private readonly o: RecorderOptions = {},
  ) {
    // a trace is one run: an earlier one at this path (a restarted watch) is moved aside, never overwritten
    this.keptPrevious = moveAside(target);
    this.parts = new NumberedParts(target, rotation?.keep);
    this.seg = this.open(target);
    this.seg.write(rotation ? { ...header, segment: { run: this.run, index: 0, snapshot_events: 0 } } : header);
  }

  private open(file: string): SegmentWriter {
    return new SegmentWriter(file, (why) => this.segmentFailed(file, why));
  }

  private segmentFailed(file: string, why: string): void {
    if (this.failed !== undefined) return;
    this.failed = why;
    this.lastFailure = why;
    this.failedAt = Date.now();
    const then =
      this.rotation === undefined
        ? 'later events are counted, not recorded'
        : `later events are counted, not recorded; a new segment is tried every ${Math.round((this.o.retryMs ?? 60_000) / 1000)} s`;
    log.error({ file, err: why }, `recording stopped: cannot write ${file}: ${why}; the trace holds every whole line before this, ${then} (free space on its disk)`);
    this.o.onFail?.(file, why);
  }

  record(ev: Event): void {
    if (this.failed !== undefined && !this.resume(ev.ts)) {
      this.dropped++;
      return;
    }
    if (this.rotation !== undefined && this.seg.streamBytes >= this.rotation.bytes) {
      this.rotate(ev.ts);
      if (this.failed !== undefined) {
        this.dropped++;
        return;
      }
    }
    const before = this.seg.bytes;
    this.seg.write(ev);
    this.seg.streamBytes += this.seg.bytes - before;
    this.lines++;
  }

  /**
   * With rotation, once `retryMs` passed since a failure: a new segment, as
   * a new run (events are missing before it, so it replays from the state
   * it starts with, never as the continuation of the segment before).
   */
  private resume(ts: number): boolean {
    if (this.rotation === undefined || Date.now() - this.failedAt < (this.o.retryMs ?? 60_000)) return false;
    this.failedAt = Date.now();
    // only when there is room for a segment (up to 16 MiB): no trail of broken segments while the disk stays full
    if (freeBytes(dirname(this.target)) < Math.min(this.rotation.bytes, 16 << 20)) return false;
    const why = this.failed;
    this.failed = undefined;
    this.run = randomUUID();
    this.index = -1;
    this.rotate(ts);
    if (this.failed !== undefined) return false;
    this.resumed++;
    log.warn({ file: this.target, not_recorded: this.dropped, after: why }, 'recording resumed in a new segment (a new run: it replays from the state it starts with)');
    return true;
  }

  private rotate(ts: number): void {
    const r = this.rotation!;
    // the file is moved while still being written (its buffered tail still lands in it), then closed
    const aside = this.parts.moveAside();
    const old = this.seg;
    this.closing.push(
      old.close().then(() => {
        // a segment begun while the disk was full may hold nothing: no empty file is left to trip a replay
        if (old.failed !== undefined && sizeOf(aside) === 0) this.parts.drop(aside);
      }),
    );
    let seg: SegmentWriter;
    try {
      seg = this.open(this.target);
    } catch (e) {
      this.segmentFailed(this.target, (e as Error).message);
      return;
    }
    const snap = r.snapshot(ts);
    this.index++;
    this.started++;
    this.seg = seg;
    this.seg.write({ ...this.header, segment: { run: this.run, index: this.index, snapshot_events: snap.length } });
    for (const ev of snap) this.seg.write(ev);
  }

  /** Events recorded (the state events that start later segments not counted). */
  get events(): number {
    return this.lines;
  }

  /** Segments removed to keep within `keep`. */
  get removed(): number {
    return this.parts.removed;
  }

  /** Segments started after the first. */
  get rotations(): number {
    return this.started - 1;
  }

  async close(): Promise<void> {
    this.closing.push(this.seg.close());
    await Promise.all(this.closing);
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
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
