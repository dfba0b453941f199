import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EffectivePolicy } from '../schema/policy.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { FileDigest, TraceHeader } from '../schema/trace-header.js';
import { AuditLog } from '../sinks/audit-log.js';
import { generateAuditKey, loadPrivateKey } from '../sinks/signed-note.js';
import { canonicalJson } from '../util/canonical-json.js';
import { moduleLog } from '../util/log.js';
import { ensureDir } from '../util/output-paths.js';

const log = moduleLog('pipeline/audit-trail');

export interface AuditSettings {
  dir: string;
  /** Ed25519 private key (PEM); default DIR/audit-key.pem, made on first use. */
  keyFile?: string;
  keyName?: string;
  heartbeatMs?: number;
  checkpointEvery?: number;
  checkpointMs?: number;
  fsyncEach?: boolean;
  /** Remove segments older than this many days (at start and daily), leaving a signed anchor. */
  retainDays?: number;
  /** Each signed checkpoint note, to ship off the host (SIEM outputs). */
  onCheckpoint?: (note: string) => void;
}

/**
 * What a monitoring run leaves in the audit log: a start record (version,
 * host, kernel, probe digests, the effective policy's and the manifest's
 * SHA-256), every finding, every loss report, enforcement actions, policy
 * reloads, heartbeats with the run's counters and the events of each task
 * since the previous heartbeat (a gap between them is visible to an
 * auditor; a host that runs thousands of sandboxes a day does not repeat
 * every task it ever saw in each one), and a shutdown record with a final
 * checkpoint.
 */
export class AuditTrail {
  private readonly log: AuditLog;
  /** Events per task since the last heartbeat (a task seen once is not carried in every later heartbeat). */
  private readonly perTask = new Map<string, number>();
  private events = 0;
  private lost = 0;
  private findings = 0;
  private readonly timer: NodeJS.Timeout;
  private retainTimer: NodeJS.Timeout | undefined;
  /** Delivery counters per SIEM output, for heartbeats. */
  outputStats: (() => Record<string, unknown>) | undefined;

  /** `startExtra`: more for the start record (a replay: what was recorded, next to what is in force now). */
  constructor(s: AuditSettings, header: TraceHeader, policy: EffectivePolicy | undefined, startExtra: Record<string, unknown> = {}) {
    const keyFile = s.keyFile ?? join(s.dir, 'audit-key.pem');
    if (!existsSync(keyFile)) {
      ensureDir(s.dir, 'the audit log (--audit)');
      const k = generateAuditKey();
      writeFileSync(keyFile, k.privatePem, { mode: 0o600 });
      writeFileSync(`${keyFile.replace(/\.pem$/, '')}.pub.pem`, k.publicPem);
      log.warn({ key: keyFile }, 'made an audit signing key next to the log; for evidence that survives a host compromise, keep the key elsewhere (--audit-key) and ship checkpoints off the host');
    }
    const key = loadPrivateKey(readFileSync(keyFile, 'utf8'));
    this.log = new AuditLog(s.dir, {
      key,
      keyName: s.keyName ?? 'chainwatch-audit',
      origin: `chainwatch/${header.host}`,
      ...(s.checkpointEvery !== undefined && { checkpointEvery: s.checkpointEvery }),
      ...(s.checkpointMs !== undefined && { checkpointMs: s.checkpointMs }),
      ...(s.fsyncEach !== undefined && { fsyncEach: s.fsyncEach }),
      ...(s.onCheckpoint && { onCheckpoint: s.onCheckpoint }),
    });
    const sha = (v: unknown): string => createHash('sha256').update(canonicalJson(v)).digest('hex');
    this.log.append('start', {
      version: header.chainwatch_version,
      host: header.host,
      kernel: header.kernel,
      scope: header.scope,
      probes: header.probes,
      rendered_sha256: header.rendered_sha256 ?? null,
      policy_sha256: header.policy_sha256,
      manifest_sha256: policy ? sha(policy.manifest) : null,
      rules: header.rules ?? null,
      ...startExtra,
      ...(header.imported_from && { imported_from: { format: header.imported_from.format, file: header.imported_from.file, sha256: header.imported_from.sha256 } }),
    });
    this.timer = setInterval(() => this.heartbeat(), s.heartbeatMs ?? 10_000).unref();
    if (s.retainDays !== undefined) {
      const days = s.retainDays;
      const retain = (): void => {
        const removed = this.log.retain(days);
        if (removed.length > 0) log.info({ removed, days }, 'audit retention: old segments removed, signed anchor written');
      };
      retain();
      this.retainTimer = setInterval(retain, 86_400_000).unref();
    }
  }

  event(ev: Event): void {
    this.events++;
    const t = ev.proc?.task ?? (ev.kind === 'loss' ? '(kernel)' : '');
    this.perTask.set(t, (this.perTask.get(t) ?? 0) + 1);
    if (ev.kind === 'loss') {
      this.lost += ev.events;
      this.log.append('loss', { events: ev.events, source: ev.source, trace_ts_ns: ev.ts });
    }
  }

  finding(f: Finding): void {
    this.findings++;
    this.log.append('finding', { finding: f });
    if (f.action === 'killed' || f.action === 'kill-failed') this.log.append('enforcement', { action: f.action, pid: f.process.pid, rule: f.rule, task: f.task, finding_id: f.id });
  }

  policyReload(oldSha: string | null, newSha: string | null, accepted: boolean, why?: string): void {
    this.log.append('policy-reload', { old_sha256: oldSha, new_sha256: newSha, accepted, ...(why !== undefined && { why }) });
  }

  /** The detection rules were read again: changed and put in force, or refused (the ones in force stay). */
  rulesReload(old: FileDigest[], next: FileDigest[] | null, accepted: boolean, why?: string): void {
    this.log.append('rules-reload', { old, new: next, accepted, ...(why !== undefined && { why }) });
  }

  /** A SIEM output refused a message (its queue was full): recorded, never silent. */
  /** Records waiting for the disk, and whether writing fails now (metrics). */
  get writeState(): { unwritten: number; failing: boolean } {
    return { unwritten: this.log.unwritten + this.log.unrecorded, failing: this.log.failing !== undefined };
  }

  sinkDrop(output: string, what: string): void {
    this.log.append('loss', { source: `output:${output}`, events: 0, dropped: what });
  }

  private heartbeat(): void {
    this.log.append('heartbeat', { events: this.events, lost_events: this.lost, findings: this.findings, events_by_task: Object.fromEntries(this.perTask), ...(this.outputStats && { outputs: this.outputStats() }) });
    this.perTask.clear();
  }

  close(summary: Record<string, unknown>): void {
    clearInterval(this.timer);
    if (this.retainTimer) clearInterval(this.retainTimer);
    this.heartbeat();
    this.log.close({ events: this.events, lost_events: this.lost, findings: this.findings, ...summary });
  }
}
