import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServeSession, type ServeOptions, type ServeSummary } from '../pipeline/serve-session.js';
import { AgentClient, type AgentClientOptions } from '../remote/agent-client.js';
import type { RefusedConnection } from '../remote/agent-listener.js';
import { issueCerts, type IssuedFiles } from '../remote/cert-authority.js';
import { loadTlsFiles } from '../remote/tls-files.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { newTraceReadStats, readTrace } from '../source/trace-reader.js';
import { moduleLog } from '../util/log.js';

/** A CA with a loopback host certificate and agent certificates for `sandboxes`. */
export function testPki(sandboxes: string[], hostNames = ['127.0.0.1']): IssuedFiles & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cw-pki-'));
  return { dir, ...issueCerts({ dir, hostNames, sandboxes, days: 2 }) };
}

/** A running chainwatch serve (in process) on a free loopback port, collecting what it reports. */
export class TestServe {
  readonly findings: Finding[] = [];
  readonly events: Event[] = [];
  readonly refused: RefusedConnection[] = [];
  port = 0;
  readonly admin: string;
  private stop!: () => void;
  private run: Promise<ServeSummary> | undefined;

  constructor(
    private readonly pki: IssuedFiles,
    readonly stateDir = mkdtempSync(join(tmpdir(), 'cw-serve-')),
    private readonly extra: Partial<ServeOptions> = {},
  ) {
    this.admin = join(this.stateDir, 'admin.sock');
  }

  async start(port = 0): Promise<number> {
    const stopped = new Promise<void>((r) => (this.stop = r));
    let ready!: (p: number) => void;
    const isReady = new Promise<number>((r) => (ready = r));
    this.run = runServeSession({
      listen: { host: '127.0.0.1', port },
      tls: { cert: this.pki.host!.cert, key: this.pki.host!.key, ca: this.pki.ca },
      adminSocket: this.admin,
      stateDir: this.stateDir,
      silenceMs: 4000,
      onReady: (p) => ready(p),
      onFinding: (f) => this.findings.push(f),
      onEvent: (ev) => this.events.push(ev),
      onRefused: (r) => this.refused.push(r),
      stopSignal: stopped,
      ...this.extra,
    });
    this.port = await Promise.race([isReady, this.run.then(() => -1)]);
    return this.port;
  }

  async close(): Promise<ServeSummary> {
    this.stop();
    return this.run!;
  }
}

/** An agent fed from a recorded trace instead of live probes (the link, not the probes, under test). */
export async function traceEvents(file: string): Promise<{ header: TraceHeader; events: Event[] }> {
  let header: TraceHeader | undefined;
  const events: Event[] = [];
  await new Promise<void>((resolve, reject) =>
    readTrace(file, newTraceReadStats(file), { onHeader: (h) => (header = h) }).subscribe({ next: (ev) => events.push(ev), error: reject, complete: resolve }),
  );
  return { header: header!, events };
}

export function testAgent(pki: IssuedFiles, sandbox: string, port: number, header: TraceHeader, extra: Partial<AgentClientOptions> = {}): AgentClient {
  const files = pki.agents[sandbox]!;
  return new AgentClient({
    target: `127.0.0.1:${port}`,
    tls: loadTlsFiles({ cert: files.cert, key: files.key, ca: pki.ca }, 'agent'),
    sandbox,
    spoolDir: mkdtempSync(join(tmpdir(), 'cw-spool-')),
    header,
    log: moduleLog('test/agent'),
    ...extra,
  });
}

export async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
