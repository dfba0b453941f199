import { createHash, sign, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../util/canonical-json.js';
import { MerkleFrontier } from './merkle.js';
import { checkpointBody, signNote } from './signed-note.js';

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
  /** Where a previous run's log was torn, if it was (reported in the first record of this run). */
  readonly recovered: { segment: string; line: number; bytes: number } | undefined;

  constructor(
    readonly dir: string,
    private readonly o: AuditOptions,
  ) {
    mkdirSync(dir, { recursive: true });
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
    // a tear, or a full segment: continue in a new one (existing bytes are never rewritten)
    this.openSegment(torn !== undefined || this.segment === 0 || this.inSegment >= (o.segmentRecords ?? 100_000));
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

  private openSegment(fresh: boolean): void {
    if (this.fd >= 0) {
      fsyncSync(this.fd);
      closeSync(this.fd);
    }
    if (fresh) {
      this.segment++;
      this.inSegment = 0;
    }
    this.fd = openSync(join(this.dir, segmentName(this.segment)), 'a');
  }

  /** Appends one record; returns it. */
  append(type: string, payload: Record<string, unknown>): AuditRecord {
    if (this.inSegment >= (this.o.segmentRecords ?? 100_000)) this.openSegment(true);
    const base = { ...payload, seq: this.seq, ts: new Date().toISOString(), type, prev: this.prev };
    const r = { ...base, hash: recordHash(base) } as AuditRecord;
    const line = canonicalJson(r);
    writeSync(this.fd, `${line}\n`);
    if (this.o.fsyncEach) fsyncSync(this.fd);
    this.tree.append(line);
    this.seq++;
    this.inSegment++;
    this.prev = r.hash;
    if (type !== 'checkpoint') {
      this.sinceCheckpoint++;
      if (this.sinceCheckpoint >= (this.o.checkpointEvery ?? 1000)) this.checkpoint();
    }
    return r;
  }

  /** Signs the log as it is now (size and root over every record so far) and appends the note as a record. */
  checkpoint(): string {
    const note = signNote(checkpointBody({ origin: this.o.origin, size: this.tree.size, root: this.tree.root() }), this.o.keyName, this.o.key);
    this.append('checkpoint', { note });
    fsyncSync(this.fd);
    writeFileSync(join(this.dir, 'checkpoint'), note);
    this.sinceCheckpoint = 0;
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
    for (const n of names) {
      const end = this.segmentEnds.get(n)!;
      if (n === current || Date.parse(end.lastTs) >= cutoff) break;
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

  /** The shutdown record, a final checkpoint, fsync. */
  close(payload: Record<string, unknown> = {}): void {
    if (this.timer) clearInterval(this.timer);
    if (this.fd < 0) return;
    this.append('shutdown', payload);
    this.checkpoint();
    closeSync(this.fd);
    this.fd = -1;
  }
}
