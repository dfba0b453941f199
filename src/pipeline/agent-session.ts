import { AgentClient, type AgentClientStats } from '../remote/agent-client.js';
import { loadTlsFiles, type TlsFiles } from '../remote/tls-files.js';
import { ChainwatchError } from '../util/errors.js';
import { moduleLog } from '../util/log.js';
import { VERSION } from '../util/version.js';
import { RunMetrics, type MetricReadings, type MetricsServer } from '../sinks/metrics.js';
import { runLiveSession, type LiveSessionSummary, type LiveTarget } from './live-session.js';

const log = moduleLog('pipeline/agent-session');

/**
 * chainwatch agent: the probes of a guest, streamed to the host correlator.
 * The guest does no analysis and holds no policy: canonical events, in
 * kernel time order (the probe's delivery proof), go into the agent's spool
 * and over mutual TLS to chainwatch serve, which runs the pipeline.
 */
export interface AgentOptions {
  connect: string;
  tls: TlsFiles;
  serverName?: string;
  /** The sandbox this agent serves: must be the one its certificate names (default: that one). */
  sandbox?: string;
  spoolDir?: string;
  maxSpoolBatches?: number;
  target: LiveTarget;
  durationS?: number;
  ringPages?: number;
  pollUs?: number;
  stopSignal?: Promise<unknown>;
  onReady?: () => void;
  /** Serve Prometheus metrics on this address (docs/metrics.md); `onMetrics` gets the port. */
  metrics?: { host: string; port: number };
  onMetrics?: (port: number) => void;
}

function linkReadings(s: AgentClientStats): NonNullable<MetricReadings['link']> {
  return { connected: s.connected, connects: s.connects, sentBatches: s.sentBatches, ackedEvents: s.ackedUpTo, spooledBatches: s.spooled, dropped: s.dropped };
}

export async function runAgentSession(o: AgentOptions): Promise<{ probes: LiveSessionSummary; stream: AgentClientStats }> {
  const tls = loadTlsFiles(o.tls, 'agent');
  if (o.sandbox !== undefined && o.sandbox !== tls.sandbox) {
    throw new ChainwatchError('TLS_INVALID', `--sandbox ${o.sandbox} but the certificate names sandbox ${tls.sandbox}`, { where: o.tls.cert, fix: 'give this sandbox\'s certificate (the host attributes events to the certificate\'s sandbox)' });
  }
  let client: AgentClient | undefined;
  // the guest's own view: what its probes saw and lost, and how its link to the host is doing
  const metrics = o.metrics === undefined ? undefined : new RunMetrics(VERSION, () => ({ ...(client && { link: linkReadings(client.stats) }) }));
  let metricsServer: MetricsServer | undefined;
  if (metrics) metricsServer = await metrics.listen(o.metrics!, o.onMetrics);
  const probes = await runLiveSession({
    target: o.target,
    analysis: false,
    ...(o.durationS !== undefined && { durationS: o.durationS }),
    ...(o.ringPages !== undefined && { ringPages: o.ringPages }),
    ...(o.pollUs !== undefined && { pollUs: o.pollUs }),
    ...(o.stopSignal && { stopSignal: o.stopSignal }),
    onHeader: (header) => {
      client = new AgentClient({
        target: o.connect,
        tls,
        ...(o.serverName !== undefined && { serverName: o.serverName }),
        sandbox: tls.sandbox!,
        spoolDir: o.spoolDir ?? './var/agent',
        header,
        log: moduleLog('remote/agent'),
        ...(o.maxSpoolBatches !== undefined && { maxSpoolBatches: o.maxSpoolBatches }),
      });
      client.start();
    },
    onCanonical: (ev) => {
      metrics?.event(ev);
      client!.push(ev);
    },
    onWatermark: (ts) => client!.watermark(ts),
    ...(o.onReady && { onReady: o.onReady }),
  });
  const stream = await client!.close();
  await metricsServer?.close();
  log.info({ stream, lost_kernel_events: probes.lostEvents }, 'agent stopped');
  return { probes, stream };
}
