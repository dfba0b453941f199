import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, openSync, renameSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { Event } from '../schema/event.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { compressionOf } from '../util/compression.js';

/** How often a compressed recording is flushed, bounding what a crash can lose. */
const FLUSH_MS = 1000;

/**
 * Writes a trace: the header line, then one canonical event per line, as
 * they left the reorder stage (ordered, named, before resolution: the state
 * stage re-derives resolution on replay). Lines are whole or absent: a
 * crash leaves a readable prefix. A name ending in `.gz` is gzip, flushed
 * every second (a cut-off file decompresses up to the last flush); `.zst`
 * is zstd through Debian's `zstd`, which finishes the frame itself when we
 * die, since it only sees its input end.
 */
export class TraceRecorder {
  private readonly out: Writable;
  private readonly gzip: Gzip | undefined;
  private readonly zstd: ChildProcess | undefined;
  private readonly file: Writable | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private lines = 0;

  /** Where an earlier trace at the same path was moved, if there was one. */
  readonly keptPrevious: string | undefined;

  constructor(target: string, header: TraceHeader) {
    // a trace is one run: an earlier one at this path (a restarted watch) is moved aside, never overwritten
    this.keptPrevious = moveAside(target);
    const kind = compressionOf(target);
    if (kind === 'zstd') {
      const fd = openSync(target, 'w');
      this.zstd = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', fd, 'inherit'] });
      this.out = this.zstd.stdin!;
    } else {
      this.file = createWriteStream(target, { flags: 'w' });
      if (kind === 'gzip') {
        this.gzip = createGzip({ level: 6 });
        this.gzip.pipe(this.file);
        this.out = this.gzip;
        this.timer = setInterval(() => this.gzip!.flush(constants.Z_SYNC_FLUSH), FLUSH_MS).unref();
      } else {
        this.out = this.file;
      }
    }
    this.write(header);
  }

  record(ev: Event): void {
    this.write(ev);
  }

  private write(obj: unknown): void {
    this.out.write(`${JSON.stringify(obj)}\n`);
    this.lines++;
  }

  get events(): number {
    return this.lines - 1;
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
  for (let n = 1; ; n++) {
    const aside = numberedName(target, n);
    if (!existsSync(aside)) {
      renameSync(target, aside);
      return aside;
    }
  }
}
