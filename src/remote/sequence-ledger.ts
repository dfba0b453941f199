import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/**
 * The host's record of each agent stream: which spool run it is and the next
 * sequence number it expects. Every event an agent sends has a sequence
 * number; the host skips numbers it already holds (resends after a
 * reconnect), and a jump forward is a gap: events that never arrived. The
 * ledger is kept on disk so a restarted host still deduplicates and still
 * sees gaps across its own restart.
 */
const LedgerFile = z.record(z.string(), z.object({ run: z.string(), next: z.number().int().nonnegative() }));
type LedgerFile = z.infer<typeof LedgerFile>;

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

export class SequenceLedger {
  private readonly entries: LedgerFile;
  private dirty = false;

  /** `file`: where the ledger lives between runs (none: memory only). */
  constructor(private readonly file?: string) {
    this.entries = {};
    if (file !== undefined && existsSync(file)) {
      const parsed = LedgerFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (parsed.success) Object.assign(this.entries, parsed.data);
    }
  }

  next(sandbox: string): number | undefined {
    return this.entries[sandbox]?.next;
  }

  hello(sandbox: string, run: string, firstUnacked: number): HelloOutcome {
    const e = this.entries[sandbox];
    if (e === undefined || e.run !== run) {
      this.entries[sandbox] = { run, next: firstUnacked };
      this.dirty = true;
      return { resumeFrom: firstUnacked, newRun: { previous: e?.run } };
    }
    if (firstUnacked > e.next) {
      const gap = { from: e.next, to: firstUnacked };
      e.next = firstUnacked;
      this.dirty = true;
      return { resumeFrom: firstUnacked, gap };
    }
    return { resumeFrom: e.next };
  }

  /** A batch of `count` events starting at `firstSeq`; the caller processes the events after `skip`, then calls commit. */
  batch(sandbox: string, firstSeq: number, count: number): BatchOutcome {
    const e = this.entries[sandbox];
    if (e === undefined) throw new Error(`no hello from ${sandbox}`);
    if (firstSeq > e.next) {
      const gap = { from: e.next, to: firstSeq };
      e.next = firstSeq + count;
      this.dirty = true;
      return { skip: 0, gap };
    }
    const skip = Math.min(count, e.next - firstSeq);
    if (firstSeq + count > e.next) {
      e.next = firstSeq + count;
      this.dirty = true;
    }
    return { skip };
  }

  /** Writes the ledger (atomically) if it changed. */
  save(): void {
    if (this.file === undefined || !this.dirty) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.entries)}\n`);
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}
