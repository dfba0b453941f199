import { join } from 'node:path';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { OutputsFile } from '../schema/outputs.js';
import { loadRuleSet } from '../rules/rule-set.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import { AdminServer, type ReloadReply } from '../remote/admin-server.js';
import type { RefusedConnection } from '../remote/agent-listener.js';
import { IngestServer, type AgentStatus, type StreamInfo } from '../remote/ingest-server.js';
import { loadTlsFiles, type TlsFiles } from '../remote/tls-files.js';
import { findingTextLines, type FindingTextOptions } from '../sinks/finding-text.js';
import { JsonlWriter } from '../sinks/jsonl-writer.js';
import { outputFailures, outputReadings, type OutputFailure } from '../sinks/output-failures.js';
import { RunMetrics, type MetricsServer } from '../sinks/metrics.js';
import { VERSION } from '../util/version.js';
import { moduleLog } from '../util/log.js';
import { AgentLane } from './agent-lane.js';
import type { AuditSettings } from './audit-trail.js';
import { useReloaded } from './correlation.js';
import { readForReload } from './reload.js';
import { runLiveSession, type LiveSessionSummary, type LiveTarget, type Reloaded } from './live-session.js';
import { runHeader } from './run-header.js';
import { openSinks } from './run-sinks.js';

const log = moduleLog('pipeline/serve-session');

/**
 * chainwatch serve: the host correlator. Agents in guests stream their
 * canonical events over mutual TLS (remote/ingest-server); each sandbox gets
 * a lane of the one pipeline (pipeline/agent-lane) and, with `watchHost`,
 * the host's own probes run beside them (pipeline/live-session). All share
 * the policy, the findings and events outputs, the audit log and the SIEM
 * outputs. The admin socket offers status and policy reload; agents cannot
 * reach it.
 */
export interface ServeOptions {
  listen: { host: string; port: number };
  tls: TlsFiles;
  /** Unix socket of the admin API (default ./var/run/chainwatch-admin.sock). */
  adminSocket?: string;
  /** Sequence ledger and other state that must survive a restart (default ./var/serve). */
  stateDir?: string;
  policy?: LoadedPolicy;
  policyFile?: string;
  rulesDir?: string;
  audit?: AuditSettings;
  outputs?: OutputsFile;
  queueDir?: string;
  /** Findings / resolved events as JSON Lines (appended: a restarted host writes on). */
  findings?: string;
  /** Findings as text for a person instead (docs/findings.md). */
  findingsText?: FindingTextOptions | undefined;
  events?: string;
  /** Also watch this host with the kernel probes. */
  watchHost?: LiveTarget;
  /** Cut off an agent that sends nothing (not even clock answers) for this long. */
  silenceMs?: number;
  /**
   * How long a sandbox's lane (its process and fd tables, open chains)
   * outlives its agent stream (default 10 min): the same run reconnecting
   * within it carries on; after it, the lane's pending findings are flushed
   * and the lane is dropped, so sandboxes that come and go do not pile up.
   */
  laneRetireMs?: number;
  onReady?: (port: number) => void;
  /** Each refused agent connection or stream (also logged). */
  onRefused?: (r: RefusedConnection) => void;
  onFinding?: (f: Finding) => void;
  onEvent?: (ev: Event) => void;
  onReloadRequest?: (reload: () => void) => void;
  stopSignal: Promise<unknown>;
  /** --events-rotate / --events-keep: the events file in parts (JsonlWriter `rotate`). */
  eventsRotate?: { bytes: number; keep?: number };
  /** Serve Prometheus metrics on this address (docs/metrics.md); `onMetrics` gets the port. */
  metrics?: { host: string; port: number };
  onMetrics?: (port: number) => void;
}

export interface ServeSummary {
  agents: AgentStatus[];
  refusedConnections: number;
  findings: number;
  /** Acknowledgement rounds put off while an output or the ledger could not be written. */
  acksWithheld: number;
  /** Outputs that could not be written in full at the end (lines still waiting when the host stopped). */
  outputFailures: OutputFailure[];
  host?: LiveSessionSummary;
}

const LANE_RETIRE_MS = 10 * 60_000;

export async function runServeSession(o: ServeOptions): Promise<ServeSummary> {
  const tls = loadTlsFiles(o.tls, 'host');
  // one read of the rules for the host and every agent's lane; a reload replaces them everywhere at once
  let rulesNow = loadRuleSet(o.rulesDir);
  const header = runHeader({ mode: 'serve' }, { policy_sha256: o.policy?.sha256 ?? null, rules: rulesNow.digests });
  const monoEpoch = BigInt(header.mono_epoch_ns);
  const wallEpoch = BigInt(header.wall_epoch_ns);
  const sinks = openSinks(o, header);
  // durable: what the host acknowledges to an agent is in the outputs, even if the host is killed right after
  const outputFailed = (file: string, why: string): void => sinks.audit?.sinkDrop(file, why);
  const findingsOut = o.findings ? new JsonlWriter(o.findings, { what: 'the findings (--findings)', render: o.findingsText && findingTextLines(o.findingsText), append: true, durable: true, onFail: outputFailed }) : undefined;
  const eventsOut = o.events ? new JsonlWriter(o.events, { what: 'the events (--events)', append: true, durable: true, onFail: outputFailed, ...(o.eventsRotate && { rotate: o.eventsRotate }) }) : undefined;
  // false while a disk refuses: the lines wait in memory, and no agent gets an ack for them
  const flushOutputs = (): boolean => {
    const f = findingsOut?.flush() ?? true;
    const e = eventsOut?.flush() ?? true;
    return f && e;
  };
  const flushTimer = setInterval(flushOutputs, 200);
  let findings = 0;
  // the host's live session records its own findings and events in the audit log and SIEM outputs; lanes go through these
  let metrics: RunMetrics | undefined;
  const writeFinding = (f: Finding): void => {
    findings++;
    metrics?.finding(f);
    findingsOut?.write(f);
    o.onFinding?.(f);
  };
  const writeEvent = (ev: Event): void => {
    metrics?.event(ev);
    eventsOut?.write(ev);
    o.onEvent?.(ev);
  };
  const onFinding = (f: Finding): void => {
    writeFinding(f);
    sinks.audit?.finding(f);
    sinks.siem?.finding(f);
  };
  const onEvent = (ev: Event): void => {
    writeEvent(ev);
    sinks.audit?.event(ev);
  };

  let policy = o.policy;
  let hostReload: ((loaded: Reloaded) => void) | undefined;
  let hostRun: Promise<LiveSessionSummary> | undefined;
  const lanes = new Map<string, AgentLane>();
  const retiring = new Map<string, ReturnType<typeof setTimeout>>();
  let lanesRetired = 0;
  const retireLater = (lane: AgentLane): void => {
    const sandbox = lane.sandbox;
    clearTimeout(retiring.get(sandbox));
    const t = setTimeout(() => {
      retiring.delete(sandbox);
      if (lanes.get(sandbox) !== lane) return;
      lanes.delete(sandbox);
      lane.finish();
      lanesRetired++;
      log.info({ sandbox, run: lane.info.run, after_ms: o.laneRetireMs ?? LANE_RETIRE_MS }, 'lane retired: its agent stream ended and did not come back');
    }, o.laneRetireMs ?? LANE_RETIRE_MS);
    t.unref();
    retiring.set(sandbox, t);
  };
  const open = (info: StreamInfo): AgentLane => {
    clearTimeout(retiring.get(info.sandbox));
    retiring.delete(info.sandbox);
    const prev = lanes.get(info.sandbox);
    // the same spool run continues the same guest: its process and fd tables stay valid
    if (prev !== undefined && prev.info.run === info.run) {
      prev.reconnected(info.remote);
      return prev;
    }
    prev?.finish();
    const lane: AgentLane = new AgentLane(info, { rules: rulesNow, wallEpochNs: wallEpoch, policy, onEvent, onFinding, onClosed: () => retireLater(lane) });
    lanes.set(info.sandbox, lane);
    log.info({ sandbox: info.sandbox, guest_host: info.header.host, guest_kernel: info.header.kernel, run: info.run }, 'new lane for a sandbox');
    return lane;
  };
  const ingest = new IngestServer({
    tls,
    log: moduleLog('remote/ingest'),
    hostEpochNs: monoEpoch,
    ledgerFile: join(o.stateDir ?? './var/serve', 'ledger.json'),
    ...(o.silenceMs !== undefined && { silenceMs: o.silenceMs }),
    ...(o.onRefused && { onRefused: o.onRefused }),
    beforeAck: flushOutputs,
    open,
  });

  const reload = (): ReloadReply => {
    const old = policy?.sha256 ?? '';
    const reply = (ok: boolean, next: string, error: string, rulesChanged = false): ReloadReply => ({ ok, old_sha256: old, new_sha256: next, error, rules: rulesNow.digests.map((d) => `${d.file} ${d.sha256}`), rules_changed: rulesChanged });
    const r = readForReload(o, { rules: rulesNow, policySha256: policy?.sha256 ?? null }, sinks.audit);
    if (!r.ok) return reply(false, '', r.why);
    const { rules, policy: next, rulesChanged } = r;
    for (const lane of lanes.values()) useReloaded(lane.correlation, r, rulesChanged, false);
    // the host's own probes take the same objects: one read of the files, one audit record
    hostReload?.({ rules, policy: next });
    rulesNow = rules;
    if (next !== undefined) policy = next;
    return reply(true, next?.sha256 ?? '', '', rulesChanged);
  };
  o.onReloadRequest?.(() => void reload());
  const admin = new AdminServer(o.adminSocket ?? './var/run/chainwatch-admin.sock', {
    status: () => ({ agents: ingest.status(), refused_connections: ingest.refused, findings, policy_sha256: policy?.sha256 ?? null, lanes: lanes.size, lanes_retired: lanesRetired, acks_withheld: ingest.acksWithheld }),
    reload,
  });

  let metricsServer: MetricsServer | undefined;
  try {
    if (o.metrics !== undefined) {
      metrics = new RunMetrics(VERSION, () => ({
        policySha256: policy?.sha256 ?? null,
        rules: rulesNow.digests,
        outputs: outputReadings([findingsOut, eventsOut]),
        ...(sinks.audit && { audit: sinks.audit.writeState }),
        ...(sinks.siem && { siem: sinks.siem.stats() }),
        agents: { connected: ingest.connected, lanes: lanes.size, refusedConnections: ingest.refused, acksWithheld: ingest.acksWithheld, totals: ingest.totals },
      }));
      metricsServer = await metrics.listen(o.metrics, o.onMetrics);
    }
    await admin.listen();
    const port = await ingest.listen(o.listen.host, o.listen.port);
    log.info({ listen: `${o.listen.host}:${port}`, admin: o.adminSocket ?? './var/run/chainwatch-admin.sock' }, 'accepting agent streams (mutual TLS)');
    if (o.watchHost !== undefined) {
      let hostReady!: () => void;
      const ready = new Promise<void>((r) => (hostReady = r));
      hostRun = runLiveSession({
        target: o.watchHost,
        sinks,
        ...(policy && { policy }),
        // serve reads a reload for every lane and hands the host's session what it read
        onReloadRequest: (r: (loaded?: Reloaded) => void) => (hostReload = r),
        rules: rulesNow,
        onEvent: writeEvent,
        onFinding: writeFinding,
        onReady: () => hostReady(),
        stopSignal: o.stopSignal,
      });
      await Promise.race([ready, hostRun]);
    }
    o.onReady?.(port);
    await Promise.race([o.stopSignal, ...(hostRun ? [hostRun] : [])]);
  } catch (e) {
    // a listener that could not start (a port in use, a bad admin path): the audit run is closed with why, the outputs too
    clearInterval(flushTimer);
    await findingsOut?.close();
    await eventsOut?.close();
    await sinks.close(`failed: ${(e as Error).message}`);
    throw e;
  } finally {
    await metricsServer?.close();
    await ingest.close();
    admin.close();
  }
  const host = await hostRun;
  for (const t of retiring.values()) clearTimeout(t);
  for (const lane of lanes.values()) lane.finish();
  clearInterval(flushTimer);
  await findingsOut?.close();
  await eventsOut?.close();
  await sinks.close('stopped');
  return { agents: ingest.status(), refusedConnections: ingest.refused, findings, acksWithheld: ingest.acksWithheld, outputFailures: [...outputFailures([findingsOut, eventsOut]), ...(host?.outputFailures ?? [])], ...(host && { host }) };
}
