import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event } from '../schema/event.js';
import { Finding } from '../schema/finding.js';
import { ev } from '../testing/events.js';
import { samples, scrape } from '../testing/prometheus.js';
import { RunMetrics } from './metrics.js';

const base = Finding.parse(JSON.parse(readFileSync('replays/curl-put-shadow.findings.jsonl', 'utf8').split('\n')[0]!));
const loss = (events: number, source: string): Event => ({ ts: 1, cgroup: 0, pid: 0, tid: 0, kind: 'loss', events, source });

describe('RunMetrics', () => {
  it('serves what the run counted and read, in the Prometheus text format, on /metrics only', async () => {
    const m = new RunMetrics('9.9.9', () => ({
      policySha256: 'ab12',
      rules: [{ file: '/r/chains.yaml', sha256: 'cd34' }],
      processes: 7,
      outputs: [{ file: '/var/f.jsonl', unwritten: 3, failing: true }],
      siem: { soc: { sent: 5, queued: 6, retried: 1, dropped: 2, connected: false } },
      agents: { connected: 1, lanes: 2, refusedConnections: 4, acksWithheld: 0, totals: { events: 100, duplicates: 9, gaps: 1, gapEvents: 20, dropped: 0, malformed: 3 } },
    }));
    for (const e of [ev.read(1, 3), loss(5, 'kernel'), loss(20, 'agent-gap'), loss(2, 'kernel')]) m.event(e);
    m.finding(base);
    m.finding({ ...base, sends: 2 });
    m.finding({ ...base, id: 'f'.repeat(24), rule: 'shell.stdio-over-socket', severity: 'critical', category: 'reverse-shell' });
    const server = await m.listen({ host: '127.0.0.1', port: 0 });
    try {
      const r = await scrape(server.port);
      expect(r.status).toBe(200);
      expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const s = samples(r.body);
      expect(s.get('chainwatch_build_info{version="9.9.9"}')).toBe(1);
      expect(s.get('chainwatch_policy_info{sha256="ab12"}')).toBe(1);
      expect(s.get('chainwatch_rules_info{file="/r/chains.yaml",sha256="cd34"}')).toBe(1);
      expect(s.get('chainwatch_events_total')).toBe(4);
      expect(s.get('chainwatch_events_lost_total{source="kernel"}')).toBe(7);
      expect(s.get('chainwatch_events_lost_total{source="agent-gap"}')).toBe(20);
      expect(s.get(`chainwatch_findings_total{rule="${base.rule}",severity="${base.severity}",category="${base.category}"}`)).toBe(1);
      expect(s.get('chainwatch_findings_total{rule="shell.stdio-over-socket",severity="critical",category="reverse-shell"}')).toBe(1);
      expect(s.get('chainwatch_finding_updates_total')).toBe(1);
      expect(s.get('chainwatch_processes')).toBe(7);
      expect(s.get('chainwatch_output_unwritten_lines_total{file="/var/f.jsonl"}')).toBe(3);
      expect(s.get('chainwatch_output_failing{file="/var/f.jsonl"}')).toBe(1);
      expect(s.get('chainwatch_siem_messages_total{output="soc",state="dropped"}')).toBe(2);
      expect(s.get('chainwatch_siem_output_connected{output="soc"}')).toBe(0);
      expect(s.get('chainwatch_agent_events_total{outcome="duplicate"}')).toBe(9);
      expect(s.get('chainwatch_agent_refused_connections_total')).toBe(4);
      expect(s.get('chainwatch_agents_connected')).toBe(1);
      // the process's own: heap, event loop lag
      expect([...s.keys()].some((k) => k.startsWith('chainwatch_nodejs_heap_size_used_bytes'))).toBe(true);
      expect(r.body).toContain('# TYPE chainwatch_events_total counter');
      expect(r.body).toContain('# TYPE chainwatch_processes gauge');
      expect((await scrape(server.port, '/')).status).toBe(404);
      expect((await scrape(server.port, '/metrics?x=1')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('a port in use is refused at listen, not later', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      await expect(new RunMetrics('0').listen({ host: '127.0.0.1', port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      busy.close();
    }
  });

  it('counters equal the events and findings seen and never go down from one scrape to the next', async () => {
    const step = fc.oneof(
      fc.record({ t: fc.constant('event' as const) }),
      fc.record({ t: fc.constant('loss' as const), n: fc.nat({ max: 1000 }), source: fc.constantFrom('kernel', 'agent-spool', 'agent-gap') }),
      fc.record({ t: fc.constant('finding' as const), rule: fc.constantFrom('a', 'b'), sends: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ t: fc.constant('scrape' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const m = new RunMetrics('0');
        const model = { events: 0, lost: new Map<string, number>(), findings: new Map<string, number>(), updates: 0 };
        let prev = new Map<string, number>();
        const check = async (): Promise<void> => {
          const s = samples(await m.text());
          expect(s.get('chainwatch_events_total')).toBe(model.events);
          for (const [src, n] of model.lost) expect(s.get(`chainwatch_events_lost_total{source="${src}"}`)).toBe(n);
          for (const [rule, n] of model.findings) expect(s.get(`chainwatch_findings_total{rule="${rule}",severity="high",category="exfiltration"}`)).toBe(n);
          expect(s.get('chainwatch_finding_updates_total')).toBe(model.updates);
          for (const [k, v] of prev) if (k.endsWith('_total') || k.includes('_total{')) expect(s.get(k)!, k).toBeGreaterThanOrEqual(v);
          prev = new Map([...s].filter(([k]) => k.startsWith('chainwatch_') && !k.startsWith('chainwatch_process_') && !k.startsWith('chainwatch_nodejs_')));
        };
        for (const st of steps) {
          if (st.t === 'event') {
            m.event(ev.read(1, 3));
            model.events++;
          } else if (st.t === 'loss') {
            m.event(loss(st.n, st.source));
            model.events++;
            model.lost.set(st.source, (model.lost.get(st.source) ?? 0) + st.n);
          } else if (st.t === 'finding') {
            m.finding({ ...base, rule: st.rule, sends: st.sends, severity: 'high', category: 'exfiltration' });
            if (st.sends === 1) model.findings.set(st.rule, (model.findings.get(st.rule) ?? 0) + 1);
            else model.updates++;
          } else await check();
        }
        await check();
      }),
      { numRuns: 50 },
    );
  });
});

describe('Prometheus itself (promtool from Debian\'s prometheus package)', () => {
  const promtool = (args: string[], input?: string) => {
    const r = spawnSync('promtool', args, { encoding: 'utf8', input, cwd: 'docs/examples' });
    if (r.error) throw new Error(`promtool is missing (scripts/setup.sh installs Debian's prometheus package): ${r.error.message}`);
    return r;
  };

  it('promtool check metrics: every chainwatch metric passes its lint (only prom-client\'s own nodejs_active_* gauges are named *_total)', async () => {
    const m = new RunMetrics('0.1.0', () => ({
      policySha256: 'ab',
      rules: [{ file: '/r/data-classes.yaml', sha256: 'ef' }, { file: '/r/chains.yaml', sha256: 'cd' }],
      malformedLines: 0,
      lateEvents: 0,
      processes: 3,
      objects: 4,
      tasks: 1,
      outputs: [{ file: '/var/f.jsonl', unwritten: 0, failing: false }],
      recording: { events: 1, notRecorded: 0, segments: 1, failing: false },
      audit: { unwritten: 0, failing: false },
      siem: { soc: { sent: 1, queued: 1, retried: 0, dropped: 0, connected: true } },
      agents: { connected: 1, lanes: 1, refusedConnections: 0, acksWithheld: 0, totals: { events: 1, duplicates: 0, gaps: 0, gapEvents: 0, dropped: 0, malformed: 0 } },
    }));
    m.event(loss(3, 'kernel'));
    m.finding(base);
    const r = promtool(['check', 'metrics'], await m.text());
    const problems = `${r.stdout}${r.stderr}`.split('\n').filter(Boolean);
    expect(problems.every((p) => /^chainwatch_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(p)), problems.join('\n')).toBe(true);
  });

  it('the example alerting rules load and their unit tests pass (docs/examples/prometheus-alerts.yml)', () => {
    const check = promtool(['check', 'rules', 'prometheus-alerts.yml']);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = promtool(['test', 'rules', 'prometheus-alerts.test.yml']);
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
  });
});
