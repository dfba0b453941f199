import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Finding } from '../src/schema/finding.js';
import { SiemRouter } from '../src/sinks/siem/router.js';
import { makeCerts, TestRsyslog } from '../src/testing/rsyslog.js';

/** Findings per second into a real rsyslog over RFC 5425 TLS (OCSF in MSG), until rsyslog has written them all. */
export async function benchSiem(n: number): Promise<{ perS: number; bytesPerFinding: number }> {
  const certs = makeCerts();
  const rs = new TestRsyslog(certs);
  await rs.start();
  const router = new SiemRouter(
    { version: 1, outputs: [{ name: 'soc', type: 'syslog', transport: 'tls', address: `127.0.0.1:${rs.port}`, format: 'ocsf', tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, checkpoints: false }] },
    mkdtempSync(join(tmpdir(), 'cw-bench-q-')),
    () => undefined,
  );
  const f = (i: number): Finding => ({
    id: i.toString(16).padStart(24, '0'), time: new Date().toISOString(), ts_ns: i, rule: 'exfil.read-then-transmit', category: 'exfiltration', severity: 'high', task: 'sbx-1', host: 'bench',
    process: { pid: 4242, ppid: 1, comm: 'curl', exe: '/usr/bin/curl' }, source: { path: '/etc/shadow', data_class: 'secret', object: '254:0:1' }, sink: { family: 'inet', address: '127.0.0.2', port: 9944 },
    bytes_read: 631, bytes_sent: 631, latency_ms: 0.2, sends: 1,
    chain: [{ pid: 4242, comm: 'curl', syscall: 'read', fd: 3, object: '/etc/shadow', ts_ns: i, bytes: 631 }, { pid: 4242, comm: 'curl', syscall: 'sendto', fd: 5, object: 'socket 127.0.0.2:9944', ts_ns: i + 1, bytes: 631 }],
    coverage: { lost_events: 0, window_start_ns: i, window_end_ns: i + 1 }, policy_hash: null, summary: `curl (pid 4242, task sbx-1) sent secret data from /etc/shadow to 127.0.0.2:9944 (${i})`,
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) router.finding(f(i));
  while (rs.lines().length < n) await new Promise((r) => setTimeout(r, 50));
  const secs = (performance.now() - t0) / 1000;
  const lines = rs.lines();
  await router.close(100);
  await rs.stop();
  return { perS: n / secs, bytesPerFinding: lines.reduce((a, l) => a + l.length, 0) / lines.length };
}
