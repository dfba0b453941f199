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
  /** Crashes the log records (torn lines the next run acknowledged). */
  tears: { where: string; bytes: number }[];
  coverage: { from?: string; to?: string; heartbeatGaps: { after: string; seconds: number }[]; lostEvents: number; findings: number };
}

export function verifyAudit(dir: string, pub: KeyObject, keyName: string, heartbeatSeconds = 10): VerifyReport {
  const rep: VerifyReport = { ok: false, records: 0, signedUpToSeq: -1, intactUpToSeq: -1, checkpoints: 0, tears: [], coverage: { heartbeatGaps: [], lostEvents: 0, findings: 0 } };
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
  let prev = anchor?.prev ?? GENESIS;
  let expectSeq = anchor?.first_seq ?? 0;
  let lastHeartbeat: number | undefined;
  let lastTs: string | undefined;
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
        prev = r.hash;
        expectSeq = r.seq + 1;
        rep.records++;
        rep.intactUpToSeq = r.seq;
      }
      return true;
    }
  }
  if (lastTs !== undefined) rep.coverage.to = lastTs;
  if (rep.signedUpToSeq < rep.intactUpToSeq - 1 || rep.checkpoints === 0) {
    return fail('unsigned-tail', `after record ${rep.signedUpToSeq}`, `${rep.intactUpToSeq - rep.signedUpToSeq} records after the last checkpoint are not signed (the run did not close, or its final checkpoint was cut off)`);
  }
  rep.ok = true;
  return rep;
}
