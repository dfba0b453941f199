import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/sinks/audit-log.js';
import { verifyAudit } from '../src/sinks/audit-verify.js';
import { generateAuditKey, loadPrivateKey, loadPublicKey } from '../src/sinks/signed-note.js';

/** Audit append rate (fsync at checkpoints, and per record) and verify rate. */
export function benchAudit(records: number, fsyncRecords: number): { appendPerS: number; appendFsyncEachPerS: number; verifyPerS: number } {
  const k = generateAuditKey();
  const key = loadPrivateKey(k.privatePem);
  const finding = { id: 'a'.repeat(24), rule: 'exfil.read-then-transmit', task: 'sbx-1', summary: 'curl (pid 1) sent secret data from /etc/shadow to 127.0.0.2:9944', chain: [{ pid: 1, comm: 'curl', syscall: 'read', fd: 3, object: '/etc/shadow', ts_ns: 1, bytes: 631 }] };
  const run = (n: number, fsyncEach: boolean): { perS: number; dir: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-bench-audit-'));
    const log = new AuditLog(dir, { key, keyName: 'bench', origin: 'bench', checkpointEvery: 1000, checkpointMs: 0, fsyncEach });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) log.append('finding', { finding });
    log.close();
    return { perS: n / ((performance.now() - t0) / 1000), dir };
  };
  const a = run(records, false);
  const t0 = performance.now();
  const rep = verifyAudit(a.dir, loadPublicKey(k.publicPem), 'bench');
  const verifyPerS = rep.records / ((performance.now() - t0) / 1000);
  if (!rep.ok) throw new Error(`bench log does not verify: ${JSON.stringify(rep.first)}`);
  const b = run(fsyncRecords, true);
  rmSync(a.dir, { recursive: true, force: true });
  rmSync(b.dir, { recursive: true, force: true });
  return { appendPerS: a.perS, appendFsyncEachPerS: b.perS, verifyPerS };
}
