import { Subject, type Subscription } from 'rxjs';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import type { Gap } from '../remote/sequence-ledger.js';
import type { StreamInfo, StreamLane } from '../remote/ingest-server.js';
import { SystemState } from '../state/system-state.js';
import { buildCorrelation } from './correlation.js';
import { analyze, type Correlation } from './pipeline.js';

/**
 * One agent's events in the host pipeline: the same stages as live and
 * replay (state, flow, chain rules, policy), with state of its own, because
 * a guest's pids, inodes and cgroup ids are its own kernel's and would
 * collide with the host's and other guests'. Everything the lane reports is
 * attributed to the sandbox its certificate names: every task.cgroup event
 * is rewritten so the task is that sandbox and the cgroup path sits under
 * /agents/SANDBOX (what follows is the guest's own word). Lost, skipped or
 * malformed events become `integrity` findings and `loss` events.
 */
export interface LaneSettings {
  /** The rules in force (serve loads them once for every lane, and a reload replaces them in each). */
  rules: RuleSet;
  /** Host wall-clock ns at the host's monotonic epoch (events arrive on the host timeline). */
  wallEpochNs: bigint;
  policy: LoadedPolicy | undefined;
  onEvent: (ev: Event) => void;
  onFinding: (f: Finding) => void;
  /** The lane's agent stream ended (serve retires the lane if it does not come back). */
  onClosed?: () => void;
}

export class AgentLane implements StreamLane {
  readonly correlation: Correlation;
  private readonly input = new Subject<Event>();
  private readonly sub: Subscription;
  private readonly named = new Set<number>();
  private lastTs = 0;

  private readonly onClosed: (() => void) | undefined;

  constructor(
    readonly info: StreamInfo,
    s: LaneSettings,
  ) {
    this.onClosed = s.onClosed;
    const state = new SystemState();
    this.correlation = buildCorrelation({ rules: s.rules, host: info.header.host, wallEpochNs: s.wallEpochNs, policy: s.policy, onFinding: s.onFinding, taskOfPid: (pid) => state.taskOfPid(pid) });
    this.sub = this.input.pipe(analyze(state, this.correlation)).subscribe({ next: s.onEvent });
  }

  get sandbox(): string {
    return this.info.sandbox;
  }

  private cgroupPath(guestPath: string): string {
    return `/agents/${this.sandbox}${guestPath.startsWith('/') ? guestPath : `/${guestPath}`}`.replace(/\/$/, '');
  }

  events(evs: Event[]): void {
    for (const ev of evs) {
      this.lastTs = ev.ts;
      if (ev.kind === 'task.cgroup') {
        this.named.add(ev.cgroup);
        this.input.next({ ...ev, path: this.cgroupPath(ev.path), task: this.sandbox });
        continue;
      }
      if (ev.kind === 'task.cgroup_gone') {
        // a guest cgroup removed: named in the host's terms like its task.cgroup; one never named is dropped
        if (!this.named.delete(ev.cgroup)) continue;
        this.input.next({ ...ev, path: this.cgroupPath(ev.path), task: this.sandbox });
        continue;
      }
      if (ev.kind !== 'loss' && !this.named.has(ev.cgroup)) {
        this.named.add(ev.cgroup);
        this.input.next({ kind: 'task.cgroup', ts: ev.ts, cgroup: ev.cgroup, pid: 0, tid: 0, path: this.cgroupPath(`cgroup-${ev.cgroup}`), task: this.sandbox });
      }
      this.input.next(ev);
    }
  }

  watermark(ts: number): void {
    for (const f of this.correlation.correlator.tick(ts)) this.correlation.onFinding(f);
  }

  private notice(rule: string, severity: Finding['severity'], summary: string): void {
    this.correlation.onFinding(this.correlation.correlator.findings.notice(rule, 'integrity', severity, this.lastTs, summary, this.sandbox));
  }

  private loss(events: number, source: string): void {
    this.input.next({ kind: 'loss', ts: this.lastTs, cgroup: 0, pid: 0, tid: 0, events, source });
  }

  gap(g: Gap, why: string): void {
    this.loss(g.to - g.from, 'agent-gap');
    this.notice('agent.gap', 'high', `sandbox ${this.sandbox}: events ${g.from}..${g.to - 1} (${g.to - g.from}) never reached the host: ${why}`);
  }

  dropped(n: number): void {
    this.loss(n, 'agent-spool');
    this.notice('agent.dropped', 'high', `sandbox ${this.sandbox}: the agent dropped ${n} events (its spool was full: host unreachable or too slow)`);
  }

  private malformedSeen = 0;
  malformed(seq: number, why: string): void {
    this.malformedSeen++;
    // one finding per burst start, then every 100th: a flood of garbage is visible without flooding the SIEM
    if (this.malformedSeen === 1 || this.malformedSeen % 100 === 0) {
      this.notice('agent.malformed', 'high', `sandbox ${this.sandbox}: event ${seq} rejected (${this.malformedSeen} so far): ${why}`);
    }
  }

  closed(reason: string, clean: boolean): void {
    this.notice('agent.disconnected', clean ? 'medium' : 'high', `sandbox ${this.sandbox}: the agent stream ended: ${reason}; its events are not seen until it reconnects`);
    this.onClosed?.();
  }

  reconnected(remote: string): void {
    this.notice('agent.reconnected', 'low', `sandbox ${this.sandbox}: the agent reconnected from ${remote}; resent events are deduplicated by sequence number`);
  }

  /** End of the host run: pending chain state is flushed into findings. */
  finish(): void {
    this.input.complete();
    this.sub.unsubscribe();
  }
}
