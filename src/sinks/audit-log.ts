import { createHash, sign, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../util/canonical-json.js';
import { moduleLog } from '../util/log.js';
import { MerkleFrontier } from './merkle.js';
import { checkpointBody, signNote } from './signed-note.js';
import { ensureDir, openForWriting } from '../util/output-paths.js';

const log = moduleLog('sinks/audit-log');

/** Records kept in memory while the disk refuses them; beyond this, records are not made (counted, and recorded as a loss once writing works). */
const MAX_BACKLOG = 200_000;

/**
 * The tamper-evident audit log (docs/audit.md): append-only JSON Lines in
 * numbered segments (`audit-000001.jsonl` …). Every record has `seq`, `ts`,
 * `type`, its payload, `prev` (the previous record's hash) and `hash`
 * (SHA-256 of the canonical JSON of the record without `hash`). Every N
 * records, every T ms and at close, a checkpoint record carries a C2SP
 * signed note over the log's size and RFC 6962 Merkle root (leaves: the
 * records' lines before it); the latest note is also in `checkpoint`.
 *
 * A torn last line (a crash mid-write) is never rewritten: the next start
 * opens a new segment whose first record says where the tear is, and the
 * chain continues from the last whole record.
 *
 * A write the disk refuses (full) crashes nothing and breaks no chain: a
 * line cut short is cut off the file again, the records wait in memory in
 * order and are written once the disk takes them (tried every second); if
 * that backlog reaches MAX_BACKLOG, further records are not made, and a
 * `loss` record says how many once writing works.
 */
export interface AuditRecord {
  seq: number;
  ts: string;
  type: string;
  prev: string;
  hash: string;
  [field: string]: unknown;
}

export interface AuditOptions {
  key: KeyObject;
  /** The signed note's key name and the checkpoint origin (default: chainwatch/HOST). */
  keyName: string;
  origin: string;
  checkpointEvery?: number;
  checkpointMs?: number;
  /** fsync every record (default: only at checkpoints and close). */
  fsyncEach?: boolean;
  segmentRecords?: number;
  /** Called with each signed checkpoint note (shipping it off the host: SIEM outputs). */
  onCheckpoint?: (note: string) => void;
  /** Records kept in memory while the disk refuses them (default MAX_BACKLOG). */
  maxBacklog?: number;
}

export const GENESIS = '0'.repeat(64);
export const segmentName = (n: number): string => `audit-${String(n).padStart(6, '0')}.jsonl`;
export const SEGMENT_RE = /^audit-(\d{6})\.jsonl$/;

export interface Anchor {
  first_segment: number;
  first_seq: number;
  prev: string;
  tree: { size: number; subtrees: { height: number; hash: string }[] };
  removed: string[];
  made: string;
  key: string;
  signature: string;
}

export function readAnchor(dir: string): Anchor | undefined {
  const f = join(dir, 'anchor.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Anchor) : undefined;
}

export function recordHash(r: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  const { hash: _drop, ...rest } = r as AuditRecord;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export class AuditLog {
  private fd = -1;
  private segment = 0;
  private inSegment = 0;
  private seq = 0;
  private prev = GENESIS;
  private tree = new MerkleFrontier();
  /** The chain's state at the end of each segment (for a retention anchor). */
  private readonly segmentEnds = new Map<string, { lastTs: string; seq: number; prev: string; tree: ReturnType<MerkleFrontier['export']> }>();
  private sinceCheckpoint = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastTs = '';
  /** Records made but not yet written, each with its segment, in order; `head` is the next to write. */
  private backlog: { segment: number; line: string }[] = [];
  private head = 0;
  /** The segment the fd is open on, and its size in whole lines' bytes. */
  private fdSegment = 0;
  private fdBytes = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Why the last write failed, while writing fails. */
  failing: string | undefined;
  /** Records not made because the backlog was full; recorded as a loss once writing works. */
  unrecorded = 0;
  private closed = false;
  /** Where a previous run's log was torn, if it was (reported in the first record of this run). */
  readonly recovered: { segment: string; line: number; bytes: number } | undefined;

  constructor(
    readonly dir: string,
    private readonly o: AuditOptions,
  ) {
    ensureDir(dir, 'the audit log (--audit)');
    // after retention, the chain starts from the signed anchor
    const anchor = readAnchor(dir);
    if (anchor) {
      this.tree = MerkleFrontier.from(anchor.tree);
      this.seq = anchor.first_seq;
      this.prev = anchor.prev;
      this.segment = anchor.first_segment - 1;
    }
    const segs = readdirSync(dir).filter((f) => SEGMENT_RE.test(f) && (!anchor || Number(SEGMENT_RE.exec(f)![1]) >= anchor.first_segment)).sort();
    let torn: { segment: string; line: number; bytes: number } | undefined;
    let lastTs = '';
    for (const s of segs) {
      const text = readFileSync(join(dir, s), 'utf8');
      const lines = text.split('\n');
      const last = lines.pop()!; // '' when the file ends with a newline
      lines.forEach((l, i) => (lastTs = this.restore(l, s, i + 1)));
      this.segmentEnds.set(s, { lastTs, seq: this.seq, prev: this.prev, tree: this.tree.export() });
      if (last.length > 0) {
        // a line without its newline: whole or not, it was cut while being written
        torn = { segment: s, line: lines.length + 1, bytes: Buffer.byteLength(last) };
      }
      this.segment = Number(SEGMENT_RE.exec(s)![1]);
      this.inSegment = lines.length;
    }
    this.recovered = torn;
    this.lastTs = lastTs;
    // a tear, or a full segment: continue in a new one (existing bytes are never rewritten)
    if (torn !== undefined || this.segment === 0 || this.inSegment >= (o.segmentRecords ?? 100_000)) {
      this.segment++;
      this.inSegment = 0;
    }
    this.openFd(this.segment);
    if (torn) this.append('recovery', { torn_segment: torn.segment, torn_line: torn.line, torn_bytes: torn.bytes, resumed_after_seq: this.seq - 1 });
    if (o.checkpointMs !== 0) this.timer = setInterval(() => this.sinceCheckpoint > 0 && this.checkpoint(), o.checkpointMs ?? 10_000).unref();
  }

  private restore(line: string, seg: string, n: number): string {
    let r: AuditRecord;
    try {
      r = JSON.parse(line) as AuditRecord;
    } catch {
      throw new Error(`${seg}:${n}: not JSON inside the log (run chainwatch audit verify)`);
    }
    this.seq = r.seq + 1;
    this.prev = r.hash;
    this.tree.append(line);
    return r.ts;
  }

  private openFd(segment: number): void {
    if (this.fd >= 0) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
    }
    this.fd = openForWriting(join(this.dir, segmentName(segment)), 'a', 'the audit log (--audit)');
    this.fdSegment = segment;
    this.fdBytes = fstatSync(this.fd).size;
  }

  /** Appends one record; returns it (undefined when the disk has refused records for so long that no more are kept). */
  append(type: string, payload: Record<string, unknown>): AuditRecord | undefined {
    if (this.closed) return undefined;
    // while failing, the waiting records go first (the disk may take them again)
    if (this.failing !== undefined) this.drain();
    if (this.backlog.length - this.head >= (this.o.maxBacklog ?? MAX_BACKLOG)) {
      this.unrecorded++;
      return undefined;
    }
    if (this.inSegment >= (this.o.segmentRecords ?? 100_000)) {
      // the chain's state where this segment ends: a retention anchor can start after it
      this.segmentEnds.set(segmentName(this.segment), { lastTs: this.lastTs, seq: this.seq, prev: this.prev, tree: this.tree.export() });
      this.segment++;
      this.inSegment = 0;
    }
    const base = { ...payload, seq: this.seq, ts: new Date().toISOString(), type, prev: this.prev };
    const r = { ...base, hash: recordHash(base) } as AuditRecord;
    const line = canonicalJson(r);
    this.backlog.push({ segment: this.segment, line });
    this.tree.append(line);
    this.seq++;
    this.inSegment++;
    this.prev = r.hash;
    this.lastTs = r.ts;
    this.drain();
    if (type !== 'checkpoint') {
      this.sinceCheckpoint++;
      if (this.sinceCheckpoint >= (this.o.checkpointEvery ?? 1000)) this.checkpoint();
    }
    return r;
  }

  /** Writes the backlog in order; when the disk refuses, the rest waits (a cut line is cut off again). */
  private drain(): void {
    while (this.head < this.backlog.length) {
      const { segment, line } = this.backlog[this.head]!;
      try {
        if (segment !== this.fdSegment) this.openFd(segment);
        const buf = Buffer.from(`${line}\n`);
        let off = 0;
        try {
          while (off < buf.length) off += writeSync(this.fd, buf, off);
          if (this.o.fsyncEach) fsyncSync(this.fd);
        } catch (e) {
          if (off > 0) ftruncateSync(this.fd, this.fdBytes);
          throw e;
        }
        this.fdBytes += buf.length;
      } catch (e) {
        this.writeFailed(e as Error);
        return;
      }
      this.head++;
    }
    this.backlog = [];
    this.head = 0;
    if (this.failing !== undefined) this.writeWorks();
  }

  private writeFailed(e: Error): void {
    const first = this.failing === undefined;
    this.failing = (e as NodeJS.ErrnoException).code ?? e.message;
    if (!first) return;
    log.error({ dir: this.dir, err: e.message }, `cannot write the audit log in ${this.dir}: ${e.message}; records wait in memory in order (up to ${this.o.maxBacklog ?? MAX_BACKLOG}) and are written once the disk takes them (free space on its disk)`);
    this.retryTimer = setInterval(() => this.drain(), 1000).unref();
  }

  private writeWorks(): void {
    log.info({ dir: this.dir, after: this.failing }, 'writing the audit log works again: the records kept meanwhile are written, the chain unbroken');
    this.failing = undefined;
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    if (this.unrecorded > 0) {
      const n = this.unrecorded;
      this.unrecorded = 0;
      this.append('loss', { source: 'audit', events: 0, records_not_made: n });
    }
  }

  /** Records made but not yet on disk. */
  get unwritten(): number {
    return this.backlog.length - this.head;
  }

  /** Signs the log as it is now (size and root over every record so far) and appends the note as a record. */
  checkpoint(): string {
    const note = signNote(checkpointBody({ origin: this.o.origin, size: this.tree.size, root: this.tree.root() }), this.o.keyName, this.o.key);
    this.append('checkpoint', { note });
    this.sinceCheckpoint = 0;
    if (this.failing === undefined) {
      try {
        fsyncSync(this.fd);
        // beside, then renamed: a write the disk refuses never leaves an empty checkpoint file
        writeFileSync(join(this.dir, 'checkpoint.tmp'), note);
        renameSync(join(this.dir, 'checkpoint.tmp'), join(this.dir, 'checkpoint'));
      } catch (e) {
        // the note is in the chain (written with the backlog); the file beside it is a convenience
        log.warn({ dir: this.dir, err: (e as Error).message }, 'could not update the checkpoint file');
      }
    }
    this.o.onCheckpoint?.(note);
    return note;
  }

  /**
   * Removes whole segments whose last record is older than `days` (never the
   * one being written), after writing a signed anchor that lets verify start
   * where they end: the first kept segment and seq, the last removed
   * record's hash and the Merkle frontier there. Returns the removed names.
   */
  retain(days: number): string[] {
    const cutoff = Date.now() - days * 86_400_000;
    const names = [...this.segmentEnds.keys()].sort();
    const current = segmentName(this.segment);
    const removable: string[] = [];
    // never a segment with records still waiting to be written
    const waiting = this.head < this.backlog.length ? segmentName(this.backlog[this.head]!.segment) : current;
    for (const n of names) {
      const end = this.segmentEnds.get(n)!;
      if (n === current || n >= waiting || Date.parse(end.lastTs) >= cutoff) break;
      removable.push(n);
    }
    if (removable.length === 0) return [];
    const last = this.segmentEnds.get(removable[removable.length - 1]!)!;
    const body = { first_segment: Number(SEGMENT_RE.exec(removable[removable.length - 1]!)![1]) + 1, first_seq: last.seq, prev: last.prev, tree: last.tree, removed: removable, made: new Date().toISOString(), key: this.o.keyName };
    const anchor = { ...body, signature: sign(null, Buffer.from(canonicalJson(body)), this.o.key).toString('base64') };
    writeFileSync(join(this.dir, 'anchor.json.tmp'), `${JSON.stringify(anchor, null, 1)}\n`);
    renameSync(join(this.dir, 'anchor.json.tmp'), join(this.dir, 'anchor.json'));
    for (const n of removable) {
      rmSync(join(this.dir, n), { force: true });
      this.segmentEnds.delete(n);
    }
    this.append('retention', { removed: removable, older_than_days: days, anchor_sha256: createHash('sha256').update(canonicalJson(anchor)).digest('hex') });
    return removable;
  }

  get size(): number {
    return this.tree.size;
  }

  /** The shutdown record, a final checkpoint, fsync. Returns the records that could not be written (the disk still refusing). */
  close(payload: Record<string, unknown> = {}): number {
    if (this.timer) clearInterval(this.timer);
    if (this.closed) return 0;
    this.append('shutdown', payload);
    this.checkpoint();
    clearInterval(this.retryTimer);
    const lost = this.unwritten + this.unrecorded;
    if (lost > 0) log.error({ dir: this.dir, records: lost, err: this.failing }, `${lost} audit records could not be written before exit (the disk refused them): the log ends at the last record written, and verifies up to it`);
    this.closed = true;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    return lost;
  }
}
