import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ensureDir } from '../util/output-paths.js';

/**
 * The host's record of each agent stream: which spool run it is and the next
 * sequence number it expects. Every event an agent sends has a sequence
 * number; the host skips numbers it already holds (resends after a
 * reconnect), and a jump forward is a gap: events that never arrived. The
 * ledger is kept on disk so a restarted host still deduplicates and still
 * sees gaps across its own restart.
 *
 * On disk it is a journal (JSON Lines after a header line): each save
 * appends the entries that changed, so an acknowledgement costs one small
 * append however many sandboxes the host has seen, and the journal is
 * rewritten whole (atomically) once it holds twice as many lines as
 * entries. Entries of sandboxes not seen for `retainMs` (default 7 days)
 * are forgotten, at most `maxEntries` are kept (the least recently seen
 * go first): a sandbox that comes back after that is a new run to the
 * host (its unacknowledged events are taken as they come).
 */
const HEADER = { format: 'chainwatch-ledger', version: 2 };
const Entry = z.object({ run: z.string(), next: z.number().int().nonnegative(), seen: z.number().optional() });
const Line = z.union([Entry.extend({ sandbox: z.string() }), z.object({ sandbox: z.string(), forget: z.literal(true) })]);
/** Version 1: the whole ledger as one JSON object. */
const LegacyFile = z.record(z.string(), Entry);

interface LedgerEntry {
  run: string;
  next: number;
  /** Last hello or batch (epoch ms). */
  seen: number;
}

export interface Gap {
  from: number;
  /** Exclusive. */
  to: number;
}

export interface HelloOutcome {
  /** The agent sends from here; the host holds everything before it. */
  resumeFrom: number;
  /** Events the agent no longer holds and the host never received. */
  gap?: Gap;
  /** The stream's spool run changed (a new guest or a lost spool): the previous run's unsent events are unknowable. */
  newRun?: { previous: string | undefined };
}

export interface BatchOutcome {
  /** How many leading events of the batch the host already has (duplicates to skip). */
  skip: number;
  gap?: Gap;
}

export interface LedgerOptions {
  retainMs?: number;
  maxEntries?: number;
  now?: () => number;
}

const DAY_MS = 86_400_000;

export class SequenceLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly dirty = new Set<string>();
  private readonly forgotten = new Set<string>();
  /** Lines in the journal file (infinite: there is none yet, or it must be rewritten whole). */
  private journalLines = Number.POSITIVE_INFINITY;
  private lastPrune = 0;
  private readonly retainMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** What was wrong with the file found at start (lines skipped), for the caller to log. */
  readonly loadProblems: string[] = [];

  /** `file`: where the ledger lives between runs (none: memory only). */
  constructor(
    private readonly file?: string,
    o: LedgerOptions = {},
  ) {
    this.retainMs = o.retainMs ?? 7 * DAY_MS;
    this.maxEntries = o.maxEntries ?? 100_000;
    this.now = o.now ?? Date.now;
    if (file !== undefined && existsSync(file)) this.load(file);
  }

  private load(file: string): void {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const now = this.now();
    let first: unknown;
    try {
      first = JSON.parse(lines[0] ?? '');
    } catch {
      first = undefined;
    }
    const isJournal = typeof first === 'object' && first !== null && (first as { format?: unknown }).format === HEADER.format;
    if (!isJournal) {
      const legacy = LegacyFile.safeParse(first);
      if (!legacy.success) {
        this.loadProblems.push(`${file}: neither a ledger journal nor a version 1 ledger; starting empty (every agent is a new run)`);
        return;
      }
      for (const [sandbox, e] of Object.entries(legacy.data)) this.entries.set(sandbox, { run: e.run, next: e.next, seen: e.seen ?? now });
      return;
    }
    for (let i = 1; i < lines.length; i++) {
      let parsed;
      try {
        parsed = Line.safeParse(JSON.parse(lines[i]!));
      } catch {
        parsed = undefined;
      }
      if (parsed === undefined || !parsed.success) {
        // the last line may have been cut by a crash mid-append: its change was never acknowledged
        this.loadProblems.push(`${file}:${i + 1}: ${i === lines.length - 1 ? 'cut-off last line' : 'unreadable line'} skipped`);
        continue;
      }
      const l = parsed.data;
      if ('forget' in l) this.entries.delete(l.sandbox);
      else this.entries.set(l.sandbox, { run: l.run, next: l.next, seen: l.seen ?? now });
    }
    // a journal with skipped lines is rewritten whole at the first save
    if (this.loadProblems.length === 0) this.journalLines = lines.length - 1;
  }

  next(sandbox: string): number | undefined {
    return this.entries.get(sandbox)?.next;
  }

  get size(): number {
    return this.entries.size;
  }

  private set(sandbox: string, e: LedgerEntry): void {
    this.entries.set(sandbox, e);
    this.forgotten.delete(sandbox);
    this.dirty.add(sandbox);
  }

  hello(sandbox: string, run: string, firstUnacked: number): HelloOutcome {
    const e = this.entries.get(sandbox);
    if (e === undefined || e.run !== run) {
      this.set(sandbox, { run, next: firstUnacked, seen: this.now() });
      return { resumeFrom: firstUnacked, newRun: { previous: e?.run } };
    }
    e.seen = this.now();
    this.dirty.add(sandbox);
    if (firstUnacked > e.next) {
      const gap = { from: e.next, to: firstUnacked };
      e.next = firstUnacked;
      return { resumeFrom: firstUnacked, gap };
    }
    return { resumeFrom: e.next };
  }

  /** A batch of `count` events starting at `firstSeq`; the caller processes the events after `skip`, then calls commit. */
  batch(sandbox: string, firstSeq: number, count: number): BatchOutcome {
    const e = this.entries.get(sandbox);
    if (e === undefined) throw new Error(`no hello from ${sandbox}`);
    e.seen = this.now();
    if (firstSeq > e.next) {
      const gap = { from: e.next, to: firstSeq };
      e.next = firstSeq + count;
      this.dirty.add(sandbox);
      return { skip: 0, gap };
    }
    const skip = Math.min(count, e.next - firstSeq);
    if (firstSeq + count > e.next) {
      e.next = firstSeq + count;
      this.dirty.add(sandbox);
    }
    return { skip };
  }

  /**
   * Forgets sandboxes not seen for the retention time and the least
   * recently seen beyond the bound; `live` (streams still open) are kept
   * whatever their age.
   */
  prune(live: ReadonlySet<string> = new Set()): string[] {
    const now = this.now();
    this.lastPrune = now;
    const gone: string[] = [];
    for (const [sandbox, e] of this.entries) {
      if (live.has(sandbox)) e.seen = now;
      else if (now - e.seen > this.retainMs) gone.push(sandbox);
    }
    for (const s of gone) this.drop(s);
    const over = this.entries.size - this.maxEntries;
    if (over > 0) {
      const oldest = [...this.entries].filter(([s]) => !live.has(s)).sort((a, b) => a[1].seen - b[1].seen).slice(0, over);
      for (const [s] of oldest) {
        this.drop(s);
        gone.push(s);
      }
    }
    return gone;
  }

  private drop(sandbox: string): void {
    this.entries.delete(sandbox);
    this.dirty.delete(sandbox);
    this.forgotten.add(sandbox);
  }

  /**
   * Writes what changed since the last save: appended to the journal (the
   * whole ledger, atomically, when the journal has grown to twice its
   * entries, or after a failed save). Prunes at most once a minute first.
   * Throws when the file cannot be written (a full disk); what changed is
   * kept for the next save.
   */
  save(live?: ReadonlySet<string>): void {
    if (this.now() - this.lastPrune > 60_000) this.prune(live);
    if (this.file === undefined) {
      this.dirty.clear();
      this.forgotten.clear();
      return;
    }
    if (this.dirty.size === 0 && this.forgotten.size === 0) return;
    const changed = this.dirty.size + this.forgotten.size;
    try {
      if (this.journalLines + changed > 2 * this.entries.size + 1000) {
        this.rewrite(this.file);
      } else {
        const lines: string[] = [];
        for (const s of this.forgotten) lines.push(JSON.stringify({ sandbox: s, forget: true }));
        for (const s of this.dirty) lines.push(JSON.stringify({ sandbox: s, ...this.entries.get(s)! }));
        appendFileSync(this.file, `${lines.join('\n')}\n`);
        this.journalLines += lines.length;
      }
    } catch (e) {
      // an append may have left part of a line: the next save writes the whole ledger anew (atomically)
      this.journalLines = Number.POSITIVE_INFINITY;
      throw e;
    }
    this.dirty.clear();
    this.forgotten.clear();
  }

  private rewrite(file: string): void {
    ensureDir(dirname(file), 'the sequence ledger (--state)');
    const lines = [JSON.stringify(HEADER)];
    for (const [sandbox, e] of this.entries) lines.push(JSON.stringify({ sandbox, ...e }));
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${lines.join('\n')}\n`);
    renameSync(tmp, file);
    this.journalLines = lines.length - 1;
  }
}
