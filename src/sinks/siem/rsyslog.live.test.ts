import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Finding } from '../../schema/finding.js';
import { makeCerts, parse5424, TestRsyslog } from '../../testing/rsyslog.js';
import { OCSF_REQUIRED } from './formats.js';
import { SiemRouter } from './router.js';

/**
 * Findings into a real rsyslog (Debian rsyslogd): RFC 5424 over TLS with
 * client certificates (gtls, x509/certvalid) carrying OCSF, over TCP
 * carrying CEF; and a receiver killed mid-stream loses nothing.
 */
const replays = join(import.meta.dirname, '../../../replays');
const cli = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const base = ['curl-put-shadow', 'pipeline-gzip-nc', 'scm-rights-send'].map((n) => Finding.parse(JSON.parse(readFileSync(join(replays, `${n}.findings.jsonl`), 'utf8').split('\n')[0]!)));
const many = (n: number): Finding[] => Array.from({ length: n }, (_, i) => ({ ...base[i % base.length]!, id: i.toString(16).padStart(24, '0'), summary: `finding ${i}: ${base[i % base.length]!.summary}` }));
const servers: TestRsyslog[] = [];
const routers: SiemRouter[] = [];
afterAll(async () => {
  for (const r of routers) await r.close(100);
  for (const s of servers) await s.stop();
});

async function until(pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('SIEM routing into a real rsyslog', () => {
  it('RFC 5424 over TLS with a client certificate, OCSF Detection Finding in MSG: arrives, parses, has the class’s required fields', async () => {
    const certs = makeCerts();
    const rs = new TestRsyslog(certs);
    servers.push(rs);
    await rs.start();
    const router = new SiemRouter(
      { version: 1, outputs: [{ name: 'soc', type: 'syslog', transport: 'tls', address: `127.0.0.1:${rs.port}`, format: 'ocsf', tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, checkpoints: true }] },
      mkdtempSync(join(tmpdir(), 'cw-q-')),
      () => undefined,
    );
    routers.push(router);
    for (const f of base) router.finding(f);
    await until(() => rs.lines().length >= base.length, 15_000);
    const got = rs.lines().map((l) => parse5424(l)!);
    expect(got.every((m) => m !== undefined && m.version === 1 && m.app === 'chainwatch')).toBe(true);
    for (const [i, m] of got.entries()) {
      expect(m.sd.id).toBe(base[i]!.id);
      expect(m.sd.rule).toBe('exfil.read-then-transmit');
      expect(m.pri).toBe(13 * 8 + 3); // log audit, error (high)
      const o = JSON.parse(m.msg) as Record<string, unknown>;
      for (const k of OCSF_REQUIRED) expect(o, k).toHaveProperty(k);
      expect(o).toMatchObject({ class_uid: 2004, category_uid: 2, type_uid: 200401, severity_id: 4, finding_info: { uid: base[i]!.id, title: 'exfil.read-then-transmit' } });
      expect((o.evidences as unknown[]).length).toBeGreaterThan(1);
    }
    // a checkpoint note travels the same way: a copy of the audit log's head off the host
    router.checkpoint('chainwatch/test\n5\nAAAA\n\n— k sig\n');
    await until(() => rs.lines().some((l) => parse5424(l)?.msgid === 'checkpoint'), 10_000);
  }, 60_000);

  it('TLS without a client certificate is refused by x509/certvalid (nothing arrives)', async () => {
    const certs = makeCerts();
    const rs = new TestRsyslog(certs);
    servers.push(rs);
    await rs.start();
    const router = new SiemRouter({ version: 1, outputs: [{ name: 'nocert', type: 'syslog', transport: 'tls', address: `127.0.0.1:${rs.port}`, format: 'ocsf', tls: { ca: certs.ca }, checkpoints: false }] }, mkdtempSync(join(tmpdir(), 'cw-q-')), () => undefined);
    routers.push(router);
    router.finding(base[0]!);
    await new Promise((r) => setTimeout(r, 3000));
    expect(rs.lines()).toEqual([]);
    expect(router.stats().nocert!.queued).toBe(1); // kept, not lost
  }, 60_000);

  it('CEF over TCP with octet counting: a well-formed CEF:0 record with the finding’s fields', async () => {
    const rs = new TestRsyslog();
    servers.push(rs);
    await rs.start();
    const router = new SiemRouter({ version: 1, outputs: [{ name: 'arcsight', type: 'syslog', transport: 'tcp', address: `127.0.0.1:${rs.port}`, format: 'cef', checkpoints: false }] }, mkdtempSync(join(tmpdir(), 'cw-q-')), () => undefined);
    routers.push(router);
    router.finding(base[0]!);
    await until(() => rs.lines().length >= 1, 15_000);
    const m = parse5424(rs.lines()[0]!)!;
    const header = m.msg.split(/(?<!\\)\|/);
    expect(header.slice(0, 7)).toEqual(['CEF:0', 'chainwatch', 'chainwatch', '0.1.0', 'exfil.read-then-transmit', base[0]!.summary, '8']);
    const ext = header.slice(7).join('|');
    expect(ext).toContain(`fname=/etc/shadow`);
    expect(ext).toContain(`dst=127.0.0.2`);
    expect(ext).toContain(`cs3=${base[0]!.id}`);
    expect(ext).toMatch(/externalId=[0-9a-f]{24}/);
  }, 60_000);

  it('rsyslog killed mid-stream and restarted: every finding arrives, and any twice only with the same delivery id', async () => {
    const rs = new TestRsyslog();
    servers.push(rs);
    await rs.start();
    const router = new SiemRouter({ version: 1, outputs: [{ name: 'soc', type: 'syslog', transport: 'tcp', address: `127.0.0.1:${rs.port}`, format: 'json', checkpoints: false }] }, mkdtempSync(join(tmpdir(), 'cw-q-')), () => undefined);
    routers.push(router);
    const fs = many(60);
    for (let i = 0; i < fs.length; i++) {
      router.finding(fs[i]!);
      if (i === 25) {
        rs.kill9();
        await new Promise((r) => setTimeout(r, 1500));
        await rs.start();
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    await until(() => new Set(rs.lines().map((l) => parse5424(l)?.sd.id)).size >= fs.length, 30_000);
    const msgs = rs.lines().map((l) => parse5424(l)!);
    const byDelivery = new Map<string, Set<string>>();
    for (const m of msgs) {
      const d = m.sd.delivery!;
      const set = byDelivery.get(m.sd.id!) ?? new Set();
      set.add(d);
      byDelivery.set(m.sd.id!, set);
    }
    expect(new Set(msgs.map((m) => m.sd.id))).toEqual(new Set(fs.map((f) => f.id)));
    // a finding that arrived twice arrived with one delivery id
    for (const [, ids] of byDelivery) expect(ids.size).toBe(1);
    const st = router.stats().soc!;
    // the kill caught messages in flight: they were sent again
    expect(st.retried).toBeGreaterThan(0);
    expect(st.dropped).toBe(0);
  }, 90_000);

  it('chainwatch replay --outputs --audit: findings and the audit log’s final checkpoint reach rsyslog', async () => {
    const rs = new TestRsyslog();
    servers.push(rs);
    await rs.start();
    const dir = mkdtempSync(join(tmpdir(), 'cw-out-'));
    const cfg = join(dir, 'outputs.yaml');
    writeFileSync(cfg, `version: 1\noutputs:\n  - { name: soc, type: syslog, transport: tcp, address: "127.0.0.1:${rs.port}", format: ocsf, queue: { dir: ${join(dir, 'q')} } }\n`);
    const r = spawnSync(process.execPath, [cli, 'replay', join(replays, 'curl-put-shadow.trace.jsonl.gz'), '--outputs', cfg, '--audit', join(dir, 'audit')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    await until(() => rs.lines().some((l) => parse5424(l)?.msgid === 'checkpoint'), 15_000);
    const msgs = rs.lines().map((l) => parse5424(l)!);
    expect(msgs.some((m) => m.msgid === 'exfiltration' && m.sd.rule === 'exfil.read-then-transmit')).toBe(true);
    const note = readFileSync(join(dir, 'audit', 'checkpoint'), 'utf8');
    expect(msgs.filter((m) => m.msgid === 'checkpoint').map((m) => m.msg.replace(/\\n/g, '\n'))).toContain(note);
  }, 60_000);

  it('a bad outputs file: exit 5 naming the file, line and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-out-'));
    const cfg = join(dir, 'outputs.yaml');
    writeFileSync(cfg, 'version: 1\noutputs:\n  - { name: soc, type: syslog, transport: tcp, address: "nohost", format: ocsf }\n');
    const r = spawnSync(process.execPath, [cli, 'replay', join(replays, 'curl-put-shadow.trace.jsonl.gz'), '--outputs', cfg, '--no-audit'], { encoding: 'utf8' });
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/outputs\.yaml:3:\d+: outputs\.0\.address: expected HOST:PORT/);
  });
});
