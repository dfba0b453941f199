import { mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ChainwatchError } from './errors.js';

/**
 * Folders and files chainwatch writes to, made or opened with an error a
 * person can act on (the path, what it is for, why it failed) instead of a
 * raw errno. Folders are made one level at a time: Node's recursive mkdir
 * loops forever under a filesystem that refuses new entries (procfs).
 */
export function ensureDir(dir: string, what: string, mode?: number): void {
  const missing: string[] = [];
  let d = resolve(dir);
  for (;;) {
    try {
      if (!statSync(d).isDirectory()) throw failed(dir, what, `${d} is not a folder`);
      break;
    } catch (e) {
      if (e instanceof ChainwatchError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw failed(dir, what, (e as Error).message);
      missing.unshift(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const m of missing) {
    try {
      mkdirSync(m, mode === undefined ? undefined : { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw failed(dir, what, (e as Error).message);
    }
  }
}

/** openSync for writing, its failure a ChainwatchError naming the file and what it is for. */
export function openForWriting(file: string, flags: string | number, what: string, mode?: number): number {
  try {
    return openSync(file, flags, mode);
  } catch (e) {
    throw failed(file, what, (e as Error).message);
  }
}

function failed(path: string, what: string, why: string): ChainwatchError {
  return new ChainwatchError('USAGE', `cannot write ${what} here: ${why}`, { where: path, fix: 'choose a path in a folder that exists (or can be made) and that this user can write' });
}

/** `run.trace.jsonl.gz` → `run.N.trace.jsonl.gz`: the number before the extensions, so the compression is still known by name. */
export function numberedName(target: string, n: number): string {
  const slash = target.lastIndexOf('/') + 1;
  const dot = target.indexOf('.', slash + 1);
  return dot < 0 ? `${target}.${n}` : `${target.slice(0, dot)}.${n}${target.slice(dot)}`;
}

/** `NAME.N.EXT` with N one above every N beside it (from 1): later means larger, even after older ones were removed. */
export function freeNumberedName(target: string): string {
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

/**
 * The earlier parts of a file written in parts (a rotated recording, a
 * rotated events file): FILE is always the newest; `moveAside()` moves it to
 * the next free NAME.N.EXT and removes this run's oldest parts beyond `keep`.
 */
export class NumberedParts {
  private readonly parts: string[] = [];
  /** Parts removed to keep within `keep`. */
  removed = 0;

  constructor(
    private readonly target: string,
    private readonly keep?: number,
  ) {}

  /** Moves FILE aside; returns where it went. */
  moveAside(): string {
    const aside = freeNumberedName(this.target);
    renameSync(this.target, aside);
    this.parts.push(aside);
    while (this.keep !== undefined && this.parts.length > this.keep) {
      rmSync(this.parts.shift()!, { force: true });
      this.removed++;
    }
    return aside;
  }

  /** A part that turned out to hold nothing: removed, and no longer one of the kept. */
  drop(part: string): void {
    rmSync(part, { force: true });
    const i = this.parts.indexOf(part);
    if (i >= 0) this.parts.splice(i, 1);
  }
}
