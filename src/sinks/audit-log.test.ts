import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SmallDisk } from '../testing/small-disk.js';
import { canonicalJson } from '../util/canonical-json.js';
import { AuditLog, recordHash, segmentName, type AuditRecord } from './audit-log.js';
import { verifyAudit, type VerifyReport } from './audit-verify.js';
import { MerkleFrontier, referenceRoot } from './merkle.js';
import { generateAuditKey, loadPrivateKey, loadPublicKey } from './signed-note.js';

const keys = generateAuditKey();
const key = loadPrivateKey(keys.privatePem);
const pub = loadPublicKey(keys.publicPem);
const NAME = 'chainwatch-test';

function makeLog(records: number, opts: { segmentRecords?: number; every?: number } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'cw-audit-'));
  const log = new AuditLog(dir, { key, keyName: NAME, origin: 'chainwatch.test/audit', checkpointEvery: opts.every ?? 10, checkpointMs: 0, segmentRecords: opts.segmentRecords ?? 1000 });
  log.append('start', { version: '0.1.0' });
  for (let i = 0; i < records; i++) log.append('finding', { n: i, rule: 'exfil.read-then-transmit' });
  log.close({ reason: 'test' });
  return dir;
}
const seg = (dir: string, n = 1): string => join(dir, segmentName(n));
const lines = (f: string): string[] => readFileSync(f, 'utf8').split('\n').slice(0, -1);
const write = (f: string, ls: string[]): void => writeFileSync(f, `${ls.join('\n')}\n`);

describe('Merkle tree (RFC 6962)', () => {
  it('the incremental frontier gives MTH for every size', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 70 }), (leaves) => {
        const f = new MerkleFrontier();
        for (const l of leaves) f.append(l);
        expect(f.root().equals(referenceRoot(leaves))).toBe(true);
      }),
    );
  });
});

describe('audit log', () => {
  it('a closed log verifies: chained, checkpointed, signed', () => {
    const dir = makeLog(45);
    const r = verifyAudit(dir, pub, NAME);
    expect(r.first).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.records).toBe(45 + 2 + r.checkpoints);
    expect(r.checkpoints).toBeGreaterThanOrEqual(5);
    expect(r.coverage.findings).toBe(45);
  });

  it('a checkpoint verifies with openssl on the note body alone', () => {
    const dir = makeLog(3);
    const note = readFileSync(join(dir, 'checkpoint'), 'utf8');
    const [body, sigs] = [note.slice(0, note.indexOf('\n\n') + 1), note.slice(note.indexOf('\n\n') + 2)];
    const sig = Buffer.from(sigs.trim().split(' ')[2]!, 'base64').subarray(4);
    writeFileSync(join(dir, 'body'), body);
    writeFileSync(join(dir, 'sig'), sig);
    writeFileSync(join(dir, 'pub.pem'), keys.publicPem);
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-rawin', '-in', join(dir, 'body'), '-sigfile', join(dir, 'sig')], { encoding: 'utf8' });
    expect(out).toContain('Signature Verified Successfully');
    expect(body.split('\n')[0]).toBe('chainwatch.test/audit');
  });

  describe('tampering is found and placed', () => {
    it('one flipped byte: modified, at that line', () => {
      const dir = makeLog(20);
      const ls = lines(seg(dir));
      ls[7] = ls[7]!.replace('"n":6', '"n":7');
      write(seg(dir), ls);
      expect(verifyAudit(dir, pub, NAME).first).toMatchObject({ problem: 'modified', where: `${segmentName(1)}:8` });
    });
    it('a deleted line: deleted', () => {
      const dir = makeLog(20);
      const ls = lines(seg(dir));
      ls.splice(5, 1);
      write(seg(dir), ls);
      expect(verifyAudit(dir, pub, NAME).first).toMatchObject({ problem: 'deleted', where: `${segmentName(1)}:6` });
    });
    it('a forged line with a recomputed hash: caught at the next link', () => {
      const dir = makeLog(20);
      const ls = lines(seg(dir));
      const before = JSON.parse(ls[4]!) as AuditRecord;
      const forged: Omit<AuditRecord, 'hash'> = { seq: before.seq + 1, ts: before.ts, type: 'finding', prev: before.hash, n: 999 };
      ls.splice(5, 0, canonicalJson({ ...forged, hash: recordHash(forged) }));
      write(seg(dir), ls);
      const r = verifyAudit(dir, pub, NAME);
      expect(r.ok).toBe(false);
      expect(['inserted', 'reordered']).toContain(r.first!.problem);
      expect(r.intactUpToSeq).toBe(before.seq + 1);
    });
    it('a rewritten history (every later record rehashed and relinked): the signed root does not match', () => {
      const dir = makeLog(25);
      const ls = lines(seg(dir)).map((l) => JSON.parse(l) as AuditRecord);
      let prev = ls[2]!.hash;
      for (let i = 3; i < ls.length; i++) {
        if (ls[i]!.type === 'finding' && i === 3) ls[i]!.n = 12345;
        const { hash: _h, ...rest } = ls[i]!;
        rest.prev = prev;
        ls[i] = { ...rest, hash: recordHash(rest) } as AuditRecord;
        prev = ls[i]!.hash;
      }
      write(seg(dir), ls.map((r) => canonicalJson(r)));
      expect(verifyAudit(dir, pub, NAME).first).toMatchObject({ problem: 'checkpoint-mismatch' });
    });
    it('two lines swapped: reordered or deleted, not intact', () => {
      const dir = makeLog(20);
      const ls = lines(seg(dir));
      [ls[3], ls[4]] = [ls[4]!, ls[3]!];
      write(seg(dir), ls);
      const r = verifyAudit(dir, pub, NAME);
      expect(r.ok).toBe(false);
      expect(r.first!.where).toBe(`${segmentName(1)}:4`);
    });
    it('truncated: the cut line, and an unsigned tail when whole lines were cut', () => {
      const dir = makeLog(20);
      const size = readFileSync(seg(dir)).length;
      truncateSync(seg(dir), size - 30);
      expect(verifyAudit(dir, pub, NAME).first).toMatchObject({ problem: 'truncated' });
      // whole lines cut: the checkpoint file beside the log signs more records than are left
      const dir2 = makeLog(20);
      const left = lines(seg(dir2)).slice(0, -2);
      write(seg(dir2), left);
      expect(verifyAudit(dir2, pub, NAME).first).toMatchObject({ problem: 'truncated', where: `record ${left.length}` });
      // and without that file: records after the last checkpoint that nothing signed
      rmSync(join(dir2, 'checkpoint'));
      expect(verifyAudit(dir2, pub, NAME).first).toMatchObject({ problem: 'unsigned-tail' });
    });
    it('cut off right after a checkpoint (what is left is whole and signed): found by the checkpoint file beside the log', () => {
      const dir = makeLog(25, { every: 10 });
      const ls = lines(seg(dir));
      const at = ls.findIndex((l) => (JSON.parse(l) as AuditRecord).type === 'checkpoint');
      write(seg(dir), ls.slice(0, at + 1));
      const r = verifyAudit(dir, pub, NAME);
      expect(r.ok).toBe(false);
      expect(r.first).toMatchObject({ problem: 'truncated', where: `record ${at + 1}` });
      // a checkpoint signs the records before it: the final one, every record but itself
      expect(r.first!.why).toContain(`signs ${ls.length - 1} records but the log holds ${at + 1}`);
      expect(r.pins).toEqual([{ source: join(dir, 'checkpoint'), size: ls.length - 1, status: 'beyond-log' }]);
      expect(r.closed).toBe(false);
    });
    it('cut after a checkpoint and the file beside it set back to that checkpoint: not closed, and a checkpoint held elsewhere finds the cut', () => {
      const dir = makeLog(25, { every: 10 });
      const held = readFileSync(join(dir, 'checkpoint'), 'utf8'); // e.g. the SIEM's copy of the final checkpoint
      const ls = lines(seg(dir));
      const at = ls.findIndex((l) => (JSON.parse(l) as AuditRecord).type === 'checkpoint');
      write(seg(dir), ls.slice(0, at + 1));
      writeFileSync(join(dir, 'checkpoint'), String((JSON.parse(ls[at]!) as AuditRecord).note));
      const local = verifyAudit(dir, pub, NAME);
      // the records and the file agree: all that shows is that the run did not close
      expect(local).toMatchObject({ ok: true, closed: false });
      expect(local.pins[0]).toMatchObject({ status: 'matched', size: at });
      const pinned = verifyAudit(dir, pub, NAME, { pins: [{ source: 'siem-copy', note: held }] });
      expect(pinned.ok).toBe(false);
      expect(pinned.first).toMatchObject({ problem: 'truncated' });
      expect(pinned.first!.why).toContain('siem-copy');
      expect(pinned.pins[1]).toEqual({ source: 'siem-copy', size: ls.length - 1, status: 'beyond-log' });
    });
    it('a checkpoint held elsewhere: matches an intact log; finds a log rewritten and re-signed with the key; refuses a note of another key', () => {
      const dir = makeLog(12);
      const held = readFileSync(join(dir, 'checkpoint'), 'utf8');
      const ok = verifyAudit(dir, pub, NAME, { pins: [{ source: 'siem-copy', note: held }] });
      expect(ok).toMatchObject({ ok: true, closed: true });
      expect(ok.pins.map((p) => p.status)).toEqual(['matched', 'matched']);
      // the same number of records, written again from scratch with the key (other content, other root)
      const rewritten = makeLog(12);
      expect(lines(seg(rewritten))).toHaveLength(lines(seg(dir)).length);
      expect(verifyAudit(rewritten, pub, NAME).ok).toBe(true);
      const r = verifyAudit(rewritten, pub, NAME, { pins: [{ source: 'siem-copy', note: held }] });
      expect(r.first).toMatchObject({ problem: 'checkpoint-mismatch' });
      expect(r.first!.why).toContain('siem-copy');
      const otherKey = loadPrivateKey(generateAuditKey().privatePem);
      const foreign = new AuditLog(mkdtempSync(join(tmpdir(), 'cw-audit-')), { key: otherKey, keyName: NAME, origin: 'o', checkpointMs: 0 });
      const note = foreign.checkpoint();
      foreign.close();
      expect(verifyAudit(dir, pub, NAME, { pins: [{ source: 'foreign', note }] }).first).toMatchObject({ problem: 'bad-signature', where: 'foreign' });
    });
    it('a middle segment deleted: missing segment', () => {
      const dir = makeLog(60, { segmentRecords: 20 });
      rmSync(seg(dir, 2));
      expect(verifyAudit(dir, pub, NAME).first).toMatchObject({ problem: 'missing-segment', where: segmentName(3) });
    });
    it('another public key: bad signature', () => {
      const dir = makeLog(5);
      const other = loadPublicKey(generateAuditKey().publicPem);
      expect(verifyAudit(dir, other, NAME).first).toMatchObject({ problem: 'bad-signature' });
    });
    it('random mutations never verify', () => {
      const base = makeLog(30, { segmentRecords: 12 });
      const files = readdirSync(base).filter((f) => f.startsWith('audit-')).sort();
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('flip' as const), file: fc.nat(files.length - 1), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('drop' as const), file: fc.nat(files.length - 1), at: fc.nat() }),
        fc.record({ kind: fc.constant('swap' as const), file: fc.nat(files.length - 1), at: fc.nat() }),
        fc.record({ kind: fc.constant('cut' as const), file: fc.nat(files.length - 1), at: fc.nat() }),
      );
      fc.assert(
        fc.property(mutation, (m) => {
          const dir = mkdtempSync(join(tmpdir(), 'cw-audit-m-'));
          for (const f of readdirSync(base)) writeFileSync(join(dir, f), readFileSync(join(base, f)));
          const f = join(dir, files[m.file]!);
          const buf = readFileSync(f);
          const ls = lines(f);
          if (m.kind === 'flip') {
            const i = m.at % buf.length;
            buf[i] = buf[i]! ^ (1 << m.bit);
            writeFileSync(f, buf);
          } else if (m.kind === 'drop') {
            ls.splice(m.at % ls.length, 1);
            write(f, ls);
          } else if (m.kind === 'swap') {
            const i = m.at % (ls.length - 1);
            [ls[i], ls[i + 1]] = [ls[i + 1]!, ls[i]!];
            write(f, ls);
          } else {
            truncateSync(f, m.at % buf.length);
          }
          expect(verifyAudit(dir, pub, NAME).ok).toBe(false);
          rmSync(dir, { recursive: true, force: true });
        }),
        { numRuns: 150 },
      );
    });
  });

  it('kill -9 mid-write: the next start records the tear, continues in a new segment, and verify passes and reports it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-audit-crash-'));
    const first = new AuditLog(dir, { key, keyName: NAME, origin: 'o', checkpointEvery: 5, checkpointMs: 0 });
    for (let i = 0; i < 12; i++) first.append('finding', { n: i });
    // the process dies: no close, and half a line on disk
    appendFileSync(seg(dir), '{"seq":99,"ts":"2026-');
    const second = new AuditLog(dir, { key, keyName: NAME, origin: 'o', checkpointEvery: 5, checkpointMs: 0 });
    expect(second.recovered).toMatchObject({ segment: segmentName(1) });
    second.append('finding', { n: 100 });
    second.close();
    const r = verifyAudit(dir, pub, NAME);
    expect(r.first).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.tears).toEqual([{ where: `${segmentName(1)}:${lines(seg(dir)).length + 1}`, bytes: 21 }]);
    const rec = JSON.parse(lines(seg(dir, 2))[0]!) as AuditRecord;
    expect(rec).toMatchObject({ type: 'recovery', torn_segment: segmentName(1) });
  });

  it('retention: old segments go, a signed anchor stays, and verify still passes for what remains', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-audit-ret-'));
    const opts = { key, keyName: NAME, origin: 'o', checkpointEvery: 5, checkpointMs: 0, segmentRecords: 10 };
    const a = new AuditLog(dir, opts);
    for (let i = 0; i < 45; i++) a.append('finding', { n: i });
    a.close();
    const b = new AuditLog(dir, opts);
    const removed = b.retain(0);
    expect(removed.length).toBeGreaterThanOrEqual(4);
    b.append('finding', { n: 'after' });
    b.close();
    const r = verifyAudit(dir, pub, NAME);
    expect(r.first).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.anchor).toMatchObject({ removed: removed.length });
    // the anchor is evidence too: changing it breaks its signature
    const anchor = JSON.parse(readFileSync(join(dir, 'anchor.json'), 'utf8')) as { first_seq: number };
    writeFileSync(join(dir, 'anchor.json'), JSON.stringify({ ...anchor, first_seq: anchor.first_seq + 1 }));
    expect(verifyAudit(dir, pub, NAME).first).toMatchObject({ problem: 'bad-signature', where: 'anchor.json' });
  });
});

/** Every record on disk chains; at most the tail after the last checkpoint written is unsigned (the disk refused the rest). */
function chainedUpToEnd(r: VerifyReport): void {
  expect([undefined, 'unsigned-tail']).toContain(r.first?.problem);
  expect(r.intactUpToSeq).toBe(r.records - 1);
}

describe('audit log on a full disk (a real tmpfs filled up)', () => {
  const disk = new SmallDisk(512 * 1024);
  afterAll(() => disk.unmount());
  const open = (dir: string, maxBacklog?: number): AuditLog =>
    new AuditLog(dir, { key, keyName: NAME, origin: 'chainwatch.test/audit', checkpointEvery: 10, checkpointMs: 0, segmentRecords: 50, ...(maxBacklog !== undefined && { maxBacklog }) });

  it('records the disk refuses wait in order and are written once it takes them: nothing thrown, no line cut, the chain verifies whole', () => {
    const dir = join(disk.dir, 'a');
    const log = open(dir);
    log.append('start', { version: '0.1.0' });
    for (let i = 0; i < 20; i++) log.append('finding', { n: i });
    disk.fill(0);
    for (let i = 20; i < 220; i++) log.append('finding', { n: i, pad: 'x'.repeat(200) });
    expect(log.failing).toBe('ENOSPC');
    expect(log.unwritten).toBeGreaterThan(100);
    // what is on disk meanwhile is whole lines that verify
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl'))) expect(readFileSync(join(dir, f), 'utf8').endsWith('\n') || readFileSync(join(dir, f), 'utf8') === '').toBe(true);
    chainedUpToEnd(verifyAudit(dir, pub, NAME));
    disk.free();
    log.append('finding', { n: 220 });
    expect(log.failing).toBeUndefined();
    expect(log.unwritten).toBe(0);
    expect(log.close({ reason: 'test' })).toBe(0);
    const r = verifyAudit(dir, pub, NAME);
    expect(r.first).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.coverage.findings).toBe(221);
    // the segments were cut where they would have been: 50 records each
    expect(lines(seg(dir, 1))).toHaveLength(50);
  });

  it('past the backlog bound, records are not made (the chain has no hole) and a loss record says how many once writing works', () => {
    const dir = join(disk.dir, 'b');
    const log = open(dir, 30);
    log.append('start', { version: '0.1.0' });
    disk.fill(0);
    for (let i = 0; i < 100; i++) log.append('finding', { n: i, pad: 'x'.repeat(200) });
    expect(log.unwritten).toBe(30);
    const notMade = log.unrecorded;
    expect(notMade).toBeGreaterThan(60);
    disk.free();
    log.append('finding', { n: 100 });
    log.close({ reason: 'test' });
    const r = verifyAudit(dir, pub, NAME);
    expect(r.first).toBeUndefined();
    expect(r.ok).toBe(true);
    const all = readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort().flatMap((f) => lines(join(dir, f)).map((l) => JSON.parse(l) as AuditRecord));
    expect(all.filter((x) => x.type === 'loss')).toEqual([expect.objectContaining({ source: 'audit', records_not_made: notMade })]);
  });

  it('closing while the disk still refuses says how many records are not written; the log verifies up to the last one that is', () => {
    const dir = join(disk.dir, 'c');
    const log = open(dir);
    log.append('start', { version: '0.1.0' });
    for (let i = 0; i < 5; i++) log.append('finding', { n: i });
    disk.fill(0);
    for (let i = 5; i < 60; i++) log.append('finding', { n: i, pad: 'x'.repeat(200) });
    const lost = log.close({ reason: 'test' });
    disk.free();
    expect(lost).toBeGreaterThan(0);
    chainedUpToEnd(verifyAudit(dir, pub, NAME));
  });
});
