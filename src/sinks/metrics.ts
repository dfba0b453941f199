import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { FileDigest } from '../schema/trace-header.js';
import { ChainwatchError } from '../util/errors.js';
import { moduleLog } from '../util/log.js';

const log = moduleLog('sinks/metrics');

/** What a session knows besides its events and findings, read at each scrape. */
export interface MetricReadings {
  policySha256?: string | null;
  /** The detection rules in force (data-classes.yaml, chains.yaml), each file with its SHA-256. */
  rules?: FileDigest[];
  /** Live probes: lines bpftrace printed that were not records (counted, skipped). */
  malformedLines?: number;
  /** Live probes: events that arrived after their reorder window (analysed late, counted). */
  lateEvents?: number;
  processes?: number;
  objects?: number;
  tasks?: number;
  /** --findings / --events: lines not written (a full disk) and whether writing fails now. */
  outputs?: { file: string; unwritten: number; failing: boolean }[];
  recording?: { events: number; notRecorded: number; segments: number; failing: boolean };
  audit?: { unwritten: number; failing: boolean };
  siem?: Record<string, { sent: number; queued: number; retried: number; dropped: number; connected: boolean }>;
  /** chainwatch agent: its link to the host. */
  link?: { connected: boolean; connects: number; sentBatches: number; ackedEvents: number; spooledBatches: number; dropped: number };
  agents?: {
    connected: number;
    lanes: number;
    refusedConnections: number;
    acksWithheld: number;
    totals: { events: number; duplicates: number; gaps: number; gapEvents: number; dropped: number; malformed: number };
  };
}

/**
 * Prometheus metrics of one run (chainwatch watch / serve --metrics):
 * counted from the events and findings that leave the pipeline (a sink,
 * like the audit trail), plus what the session reads out at each scrape.
 * Every loss chainwatch knows of is a counter here, by where it happened:
 * docs/metrics.md lists them. Nothing is counted on the hot path but two
 * integers and, for loss events and findings, a map entry.
 */
export class RunMetrics {
  private events = 0;
  private readonly lost = new Map<string, number>();
  private readonly findings = new Map<string, { rule: string; severity: string; category: string; n: number }>();
  private findingUpdates = 0;
  private readonly registry = new Registry();
  private readonly m;

  constructor(
    version: string,
    private readonly read: () => MetricReadings = () => ({}),
  ) {
    const r = this.registers();
    this.m = {
      build: r.gauge('chainwatch_build_info', 'Always 1; the version as a label.', ['version']),
      policy: r.gauge('chainwatch_policy_info', 'Always 1; the SHA-256 of the effective policy in force ("none" without one).', ['sha256']),
      rules: r.gauge('chainwatch_rules_info', 'Always 1; each rules file in force (data-classes.yaml, chains.yaml) with the SHA-256 of its bytes.', ['file', 'sha256']),
      events: r.counter('chainwatch_events_total', 'Canonical events through the pipeline.'),
      lost: r.counter('chainwatch_events_lost_total', 'Events known to be lost, by where (kernel: bpftrace ring buffer; agent-spool: an agent\'s full spool; agent-gap: sequence numbers that never arrived).', ['source']),
      findings: r.counter('chainwatch_findings_total', 'Findings (one per chain), by rule, severity and category.', ['rule', 'severity', 'category']),
      updates: r.counter('chainwatch_finding_updates_total', 'Later sends of a chain already reported (its finding re-emitted with new counters).'),
      malformed: r.counter('chainwatch_probe_malformed_lines_total', 'Probe output lines that were not records (skipped, never fatal).'),
      late: r.counter('chainwatch_late_events_total', 'Events that arrived after their reorder window and were analysed late.'),
      processes: r.gauge('chainwatch_processes', 'Processes in the state.'),
      objects: r.gauge('chainwatch_objects', 'Open objects (files, sockets, pipes) in the state.'),
      tasks: r.gauge('chainwatch_tasks', 'Tasks whose analysis state is kept.'),
      outUnwritten: r.counter('chainwatch_output_unwritten_lines_total', 'Lines of --findings / --events that could not be written (a full disk).', ['file']),
      outFailing: r.gauge('chainwatch_output_failing', '1 while writing this output fails.', ['file']),
      recEvents: r.counter('chainwatch_recorded_events_total', 'Events written to the --record trace.'),
      recLost: r.counter('chainwatch_recording_not_recorded_total', 'Events not recorded because the trace could not be written.'),
      recSegments: r.gauge('chainwatch_recording_segments', 'Segments the recording has started (1 without rotation).'),
      recFailing: r.gauge('chainwatch_recording_failing', '1 while the recording cannot be written.'),
      auditUnwritten: r.gauge('chainwatch_audit_unwritten_records', 'Audit records made but waiting for the disk.'),
      auditFailing: r.gauge('chainwatch_audit_failing', '1 while the audit log cannot be written.'),
      siem: r.counter('chainwatch_siem_messages_total', 'Messages per SIEM output: sent, queued (ever), retried, dropped (refused: queue full or file unwritable).', ['output', 'state']),
      siemUp: r.gauge('chainwatch_siem_output_connected', '1 while the output is connected.', ['output']),
      linkUp: r.gauge('chainwatch_link_connected', 'agent: 1 while the stream to chainwatch serve is up.'),
      linkConnects: r.counter('chainwatch_link_connects_total', 'agent: connections made to chainwatch serve.'),
      linkSent: r.counter('chainwatch_link_sent_batches_total', 'agent: batches sent (resends included).'),
      linkAcked: r.counter('chainwatch_link_acked_events_total', 'agent: events the host acknowledged (it holds them).'),
      linkSpooled: r.gauge('chainwatch_link_spooled_batches', 'agent: batches in the spool, not yet acknowledged.'),
      linkDropped: r.counter('chainwatch_link_dropped_events_total', 'agent: events dropped because the spool was full (reported to the host).'),
      agentsUp: r.gauge('chainwatch_agents_connected', 'Agent streams connected now.'),
      lanes: r.gauge('chainwatch_agent_lanes', 'Sandboxes with analysis state (lanes).'),
      agent: r.counter('chainwatch_agent_events_total', 'Agent events by outcome: received, duplicate (skipped), malformed (rejected).', ['outcome']),
      gaps: r.counter('chainwatch_agent_gaps_total', 'Jumps in an agent\'s sequence numbers (each an agent.gap finding).'),
      refused: r.counter('chainwatch_agent_refused_connections_total', 'Agent connections refused (TLS, certificate, sandbox claim).'),
      withheld: r.counter('chainwatch_agent_acks_withheld_total', 'Acknowledgement rounds put off while an output or the ledger could not be written.'),
    };
    this.m.build.set({ version }, 1);
    collectDefaultMetrics({ register: this.registry, prefix: 'chainwatch_' });
  }

  private registers() {
    const registers = [this.registry];
    return {
      counter: (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers }),
      gauge: (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers }),
    };
  }

  event(ev: Event): void {
    this.events++;
    if (ev.kind === 'loss') this.lost.set(ev.source, (this.lost.get(ev.source) ?? 0) + ev.events);
  }

  finding(f: Finding): void {
    if (f.sends > 1) {
      this.findingUpdates++;
      return;
    }
    const key = `${f.rule}\u0000${f.severity}\u0000${f.category}`;
    const e = this.findings.get(key);
    if (e) e.n++;
    else this.findings.set(key, { rule: f.rule, severity: f.severity, category: f.category, n: 1 });
  }

  /** The exposition text, every value as of now. */
  async text(): Promise<string> {
    const m = this.m;
    const r = this.read();
    const total = (c: Counter, v: number, labels: Record<string, string> = {}): void => c.inc(labels, v);
    for (const metric of Object.values(m)) if (metric !== m.build) metric.reset();
    total(m.events, this.events);
    for (const [source, n] of this.lost) total(m.lost, n, { source });
    for (const f of this.findings.values()) total(m.findings, f.n, { rule: f.rule, severity: f.severity, category: f.category });
    total(m.updates, this.findingUpdates);
    m.policy.set({ sha256: r.policySha256 ?? 'none' }, 1);
    for (const d of r.rules ?? []) m.rules.set({ file: d.file, sha256: d.sha256 }, 1);
    if (r.malformedLines !== undefined) total(m.malformed, r.malformedLines);
    if (r.lateEvents !== undefined) total(m.late, r.lateEvents);
    if (r.processes !== undefined) m.processes.set(r.processes);
    if (r.objects !== undefined) m.objects.set(r.objects);
    if (r.tasks !== undefined) m.tasks.set(r.tasks);
    for (const o of r.outputs ?? []) {
      total(m.outUnwritten, o.unwritten, { file: o.file });
      m.outFailing.set({ file: o.file }, o.failing ? 1 : 0);
    }
    if (r.recording) {
      total(m.recEvents, r.recording.events);
      total(m.recLost, r.recording.notRecorded);
      m.recSegments.set(r.recording.segments);
      m.recFailing.set(r.recording.failing ? 1 : 0);
    }
    if (r.audit) {
      m.auditUnwritten.set(r.audit.unwritten);
      m.auditFailing.set(r.audit.failing ? 1 : 0);
    }
    for (const [output, s] of Object.entries(r.siem ?? {})) {
      for (const state of ['sent', 'queued', 'retried', 'dropped'] as const) total(m.siem, s[state], { output, state });
      m.siemUp.set({ output }, s.connected ? 1 : 0);
    }
    if (r.link) {
      const l = r.link;
      m.linkUp.set(l.connected ? 1 : 0);
      total(m.linkConnects, l.connects);
      total(m.linkSent, l.sentBatches);
      total(m.linkAcked, l.ackedEvents);
      m.linkSpooled.set(l.spooledBatches);
      total(m.linkDropped, l.dropped);
    }
    if (r.agents) {
      const a = r.agents;
      m.agentsUp.set(a.connected);
      m.lanes.set(a.lanes);
      total(m.agent, a.totals.events, { outcome: 'received' });
      total(m.agent, a.totals.duplicates, { outcome: 'duplicate' });
      total(m.agent, a.totals.malformed, { outcome: 'malformed' });
      total(m.gaps, a.totals.gaps);
      total(m.refused, a.refusedConnections);
      total(m.withheld, a.acksWithheld);
    }
    return this.registry.metrics();
  }

  /** Serves GET /metrics on `at` (port 0: any free one, given to `onPort`); an address that cannot be listened on is a usage error naming it. */
  async listen(at: { host: string; port: number }, onPort?: (port: number) => void): Promise<MetricsServer> {
    const { host, port } = at;
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('chainwatch serves /metrics only\n');
        return;
      }
      this.text().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (e: unknown) => {
          log.error({ err: (e as Error).message }, 'metrics scrape failed');
          res.writeHead(500).end();
        },
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
    } catch (e) {
      throw new ChainwatchError('USAGE', `cannot serve metrics on ${host}:${port}: ${(e as Error).message}`, { where: '--metrics', fix: 'choose a free port and an address of this host (e.g. 127.0.0.1:9464)' });
    }
    server.on('error', (e) => log.error({ err: e.message }, 'metrics endpoint error'));
    const bound = (server.address() as AddressInfo).port;
    log.info({ address: `${host}:${bound}`, path: '/metrics' }, 'metrics endpoint listening');
    onPort?.(bound);
    return new MetricsServer(server, bound);
  }
}

export class MetricsServer {
  constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
