import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../schema/finding.js';
import { SiemRouter } from './router.js';

const finding = (i: number): Finding => ({
  id: i.toString(16).padStart(24, '0'), time: new Date().toISOString(), ts_ns: i, rule: 'exfil.read-then-transmit', category: 'exfiltration', severity: 'high', task: 't', host: 'h',
  process: { pid: 1, ppid: 0, comm: 'curl' }, source: { path: '/etc/shadow', data_class: 'secret' }, sink: { family: 'inet', address: '127.0.0.2', port: 80 },
  bytes_read: 1, bytes_sent: 1, latency_ms: 0, sends: 1, chain: [], coverage: { lost_events: 0, window_start_ns: 0, window_end_ns: 0 }, policy_hash: null, summary: `finding ${i}`,
});

describe('HTTP (Splunk HEC-style) output', () => {
  it('batches events with the token, survives a receiver that fails for a while, delivers every one in order', async () => {
    const got: { auth: string | undefined; events: { event: { finding_id?: string; id?: string }; sourcetype: string }[] }[] = [];
    let fail = 3;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (fail-- > 0) {
          res.statusCode = 503;
          res.end('{"text":"Server is busy","code":9}');
          return;
        }
        got.push({ auth: req.headers.authorization, events: body.split('\n').map((l) => JSON.parse(l) as { event: { id?: string }; sourcetype: string }) });
        res.end('{"text":"Success","code":0}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const router = new SiemRouter(
      { version: 1, outputs: [{ name: 'hec', type: 'http', url: `http://127.0.0.1:${port}/services/collector/event`, token: 'T0K3N', format: 'json', batch: 10, checkpoints: true }] },
      mkdtempSync(join(tmpdir(), 'cw-q-')),
      () => undefined,
    );
    for (let i = 0; i < 25; i++) router.finding(finding(i));
    router.checkpoint('o\n25\nAAAA\n\n— k s\n');
    await router.close(15_000);
    server.close();
    const events = got.flatMap((g) => g.events);
    expect(got.every((g) => g.auth === 'Splunk T0K3N')).toBe(true);
    expect(events.filter((e) => e.sourcetype === 'chainwatch:json').map((e) => e.event.id)).toEqual(Array.from({ length: 25 }, (_, i) => finding(i).id));
    expect(events.some((e) => e.sourcetype === 'chainwatch:checkpoint')).toBe(true);
    expect(Math.max(...got.map((g) => g.events.length))).toBeLessThanOrEqual(10);
    const st = router.stats().hec!;
    expect(st).toMatchObject({ sent: 26, queued: 0, dropped: 0 });
    expect(st.retried).toBeGreaterThan(0);
  }, 30_000);
});
