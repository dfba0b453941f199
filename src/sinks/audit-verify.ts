import { verify, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../util/canonical-json.js';
import { GENESIS, readAnchor, recordHash, SEGMENT_RE, type AuditRecord } from './audit-log.js';
import { MerkleFrontier } from './merkle.js';
import { openNote } from './signed-note.js';

/**
 * Offline verification of an audit directory with the public key only:
 * every line's hash, every link, sequence numbers, segment numbering, every
 * checkpoint's signature and its size and root against the records before
 * it. Reports the first problem precisely (segment:line and what it looks
 * like) and how far the log is intact; a torn line that the next run
 * recorded (a crash) is reported, not fatal.
 *
 * The records alone cannot show that records were cut off the log's end
 * right after a checkpoint: what is left is a whole, signed log. A
 * checkpoint kept apart from the records pins the size the log had
 * reached: the `checkpoint` file beside the segments (the latest note,
 * caught by a naive cut) and any note held elsewhere (a SIEM's copy:
 * `pins`), which a root user on the host cannot take back. The log must
 * reach each pinned size with the pinned root.
 */
export type Problem =
  | 'modified'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'truncated'
  | 'garbled'
  | 'bad-signature'
  | 'checkpoint-mismatch'
  | 'missing-segment'
  | 'unsigned-tail'
  | 'empty';

/** A signed checkpoint note held apart from the log's records. */
export interface PinnedCheckpoint {
  /** Where it came from (a file name): named in the report. */
  source: string;
  note: string;
}

/**
 * A checkpoint note as it was kept elsewhere: the note itself (`DIR/checkpoint`),
 * the syslog message (newlines escaped as `\\n`), or the HTTP output's JSON
 * (`{"type":"audit-checkpoint","note":…}`).
 */
export function heldCheckpointNote(text: string): string {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      const note = (JSON.parse(t) as { note?: unknown }).note;
      if (typeof note === 'string') return note;
    } catch {
      // not JSON: taken as the note, which then fails its signature check by name
    }
    return text;
  }
  // a note has a blank line between its body and its signatures; escaped, it is one line
  return !text.includes('\n\n') && text.includes('\\n') ? text.trim().replace(/\\n/g, '\n').replace(/\n*$/, '\n') : text;
}

export interface VerifyOptions {
  /** Heartbeats further apart than twice this are reported as gaps (default 10). */
  heartbeatSeconds?: number;
  /** Checkpoints held elsewhere (a SIEM, an auditor); `DIR/checkpoint` is always added when present. */
  pins?: PinnedCheckpoint[];
}

export interface PinReport {
  source: string;
  size: number;
  /** matched: the log reaches the size with the same root; before-anchor: the size lies in segments retention removed (not checkable). */
  status: 'matched' | 'mismatch' | 'beyond-log' | 'bad-signature' | 'before-anchor';
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  /** Every record up to and including this seq is intact and covered by a valid checkpoint. */
  signedUpToSeq: number;
  /** Every record up to this seq chains correctly (signed or not). */
  intactUpToSeq: number;
  checkpoints: number;
  /** Retention: verification started from this signed anchor. */
  anchor?: { firstSegment: number; firstSeq: number; removed: number };
  first?: { problem: Problem; where: string; why: string };
  /** The log ends with its run's shutdown record and final checkpoint (false: still running, crashed, or its end was cut off). */
  closed: boolean;
  /** Each pinned checkpoint and how the log compares with it. */
  pins: PinReport[];
  /** Crashes the log records (torn lines the next run acknowledged). */
  tears: { where: string; bytes: number }[];
  coverage: { from?: string; to?: string; heartbeatGaps: { after: string; seconds: number }[]; lostEvents: number; findings: number };
}

export function verifyAudit(dir: string, pub: KeyObject, keyName: string, opts: VerifyOptions = {}): VerifyReport {
  const heartbeatSeconds = opts.heartbeatSeconds ?? 10;
  const rep: VerifyReport = { ok: false, records: 0, signedUpToSeq: -1, intactUpToSeq: -1, checkpoints: 0, closed: false, pins: [], tears: [], coverage: { heartbeatGaps: [], lostEvents: 0, findings: 0 } };
  const fail = (problem: Problem, where: string, why: string): VerifyReport => {
    rep.first ??= { problem, where, why };
    rep.ok = false;
    return rep;
  };
  if (!existsSync(dir)) return fail('empty', dir, 'no such directory');
  // after retention: start from the signed anchor where the removed segments ended
  const anchor = readAnchor(dir);
  if (anchor) {
    const { signature, ...body } = anchor;
    if (!verify(null, Buffer.from(canonicalJson(body)), pub, Buffer.from(signature, 'base64'))) return fail('bad-signature', 'anchor.json', 'the retention anchor is not signed by this key');
    rep.anchor = { firstSegment: anchor.first_segment, firstSeq: anchor.first_seq, removed: anchor.removed.length };
  }
  const first = anchor?.first_segment ?? 1;
  const segs = readdirSync(dir).filter((f) => SEGMENT_RE.test(f) && Number(SEGMENT_RE.exec(f)![1]) >= first).sort();
  if (segs.length === 0) return fail('empty', dir, 'no audit segments');
  for (let i = 0; i < segs.length; i++) {
    const n = Number(SEGMENT_RE.exec(segs[i]!)![1]);
    if (n !== i + first) return fail('missing-segment', segs[i]!, `segment ${String(i + first).padStart(6, '0')} is missing (found ${segs[i]} next)`);
  }
  const tree = anchor ? MerkleFrontier.from(anchor.tree) : new MerkleFrontier();
  // checkpoints held apart from the records: the log must reach each one's size with its root
  const pinned: { pin: PinReport; root: Buffer }[] = [];
  const local = join(dir, 'checkpoint');
  const pins = [...(existsSync(local) ? [{ source: local, note: readFileSync(local, 'utf8') }] : []), ...(opts.pins ?? [])];
  for (const p of pins) {
    const note = openNote(p.note, keyName, pub);
    const pin: PinReport = { source: p.source, size: note.checkpoint?.size ?? -1, status: 'bad-signature' };
    rep.pins.push(pin);
    if (!note.valid || note.checkpoint === undefined) return fail('bad-signature', p.source, `the checkpoint in ${p.source}: ${note.why ?? 'not a checkpoint note'}`);
    if (note.checkpoint.size <= tree.size) pin.status = 'before-anchor';
    else pinned.push({ pin, root: note.checkpoint.root });
  }
  let prev = anchor?.prev ?? GENESIS;
  let expectSeq = anchor?.first_seq ?? 0;
  let lastHeartbeat: number | undefined;
  let lastTs: string | undefined;
  let lastType: string | undefined;
  for (let si = 0; si < segs.length; si++) {
    const seg = segs[si]!;
    const text = readFileSync(join(dir, seg), 'utf8');
    const lines = text.split('\n');
    const tail = lines.pop()!;
    if (tail.length > 0) {
      // a line without its newline: acknowledged by a recovery record at the start of the next segment, or a truncation
      const next = segs[si + 1];
      const first = next ? readFileSync(join(dir, next), 'utf8').split('\n')[0] : undefined;
      let ack = false;
      try {
        const r = first ? (JSON.parse(first) as AuditRecord) : undefined;
        ack = r?.type === 'recovery' && r.torn_segment === seg && r.torn_line === lines.length + 1;
      } catch {
        ack = false;
      }
      if (!ack) {
        checkLines(lines);
        return fail('truncated', `${seg}:${lines.length + 1}`, `the log ends in a cut line (${Buffer.byteLength(tail)} bytes, no newline) that no later run recorded: truncated or cut while writing`);
      }
      rep.tears.push({ where: `${seg}:${lines.length + 1}`, bytes: Buffer.byteLength(tail) });
    }
    if (!checkLines(lines)) return rep;

    function checkLines(ls: string[]): boolean {
      for (let li = 0; li < ls.length; li++) {
        const where = `${seg}:${li + 1}`;
        const line = ls[li]!;
        let r: AuditRecord;
        try {
          r = JSON.parse(line) as AuditRecord;
        } catch {
          fail('garbled', where, 'not JSON');
          return false;
        }
        if (typeof r.seq !== 'number' || typeof r.hash !== 'string' || typeof r.prev !== 'string') {
          fail('garbled', where, 'not an audit record (seq, prev, hash missing)');
          return false;
        }
        if (canonicalJson(r) !== line || recordHash(r) !== r.hash) {
          fail('modified', where, `record ${r.seq} does not hash to its own hash: its content was changed`);
          return false;
        }
        if (r.seq > expectSeq) {
          fail('deleted', where, `records ${expectSeq}…${r.seq - 1} are missing before record ${r.seq}`);
          return false;
        }
        if (r.seq < expectSeq) {
          fail(r.prev === prev ? 'inserted' : 'reordered', where, `record ${r.seq} comes where ${expectSeq} should`);
          return false;
        }
        if (r.prev !== prev) {
          fail('inserted', where, `record ${r.seq} does not link to the record before it (prev ${r.prev.slice(0, 12)}…, expected ${prev.slice(0, 12)}…)`);
          return false;
        }
        if (r.type === 'checkpoint') {
          const note = openNote(String(r.note ?? ''), keyName, pub);
          if (!note.valid) {
            fail('bad-signature', where, `checkpoint at record ${r.seq}: ${note.why ?? 'invalid'}`);
            return false;
          }
          if (note.checkpoint === undefined || note.checkpoint.size !== tree.size || !note.checkpoint.root.equals(tree.root())) {
            fail('checkpoint-mismatch', where, `checkpoint at record ${r.seq} signs size ${note.checkpoint?.size} and a root that is not the log's (size ${tree.size}): records before it were rewritten`);
            return false;
          }
          rep.checkpoints++;
          rep.signedUpToSeq = r.seq - 1;
        }
        if (r.type === 'heartbeat') {
          const t = Date.parse(r.ts);
          if (lastHeartbeat !== undefined && (t - lastHeartbeat) / 1000 > 2 * heartbeatSeconds) rep.coverage.heartbeatGaps.push({ after: new Date(lastHeartbeat).toISOString(), seconds: Math.round((t - lastHeartbeat) / 1000) });
          lastHeartbeat = t;
        }
        if (r.type === 'start') lastHeartbeat = Date.parse(r.ts);
        if (r.type === 'loss') rep.coverage.lostEvents += Number(r.events ?? 0);
        if (r.type === 'finding') rep.coverage.findings++;
        rep.coverage.from ??= r.ts;
        lastTs = r.ts;
        tree.append(line);
        for (const p of pinned) {
          if (p.pin.size !== tree.size) continue;
          if (!p.root.equals(tree.root())) {
            p.pin.status = 'mismatch';
            fail('checkpoint-mismatch', where, `the checkpoint in ${p.pin.source} signs ${p.pin.size} records with a root that is not the log's: records up to record ${r.seq} were rewritten`);
            return false;
          }
          p.pin.status = 'matched';
        }
        rep.closed = r.type === 'checkpoint' && lastType === 'shutdown';
        lastType = r.type;
        prev = r.hash;
        expectSeq = r.seq + 1;
        rep.records++;
        rep.intactUpToSeq = r.seq;
      }
      return true;
    }
  }
  if (lastTs !== undefined) rep.coverage.to = lastTs;
  for (const p of pinned) {
    if (p.pin.size <= tree.size) continue;
    p.pin.status = 'beyond-log';
    return fail('truncated', `record ${rep.intactUpToSeq + 1}`, `the checkpoint in ${p.pin.source} signs ${p.pin.size} records but the log holds ${tree.size}: records were removed from its end`);
  }
  if (rep.signedUpToSeq < rep.intactUpToSeq - 1 || rep.checkpoints === 0) {
    return fail('unsigned-tail', `after record ${rep.signedUpToSeq}`, `${rep.intactUpToSeq - rep.signedUpToSeq} records after the last checkpoint are not signed (the run did not close, or its final checkpoint was cut off)`);
  }
  rep.ok = true;
  return rep;
}
