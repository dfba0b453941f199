import type { ChainRule } from '../schema/chain-rule.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { BehaviourFeatures } from './behaviour-features.js';
import type { Deviation } from './baseline-scorer.js';
import type { FindingBuilder } from './finding-builder.js';
import { fdPassFacts, transmitFact } from './flow-facts.js';
import type { FlowTracker } from './flow-tracker.js';
import type { EffectivePolicy } from '../schema/policy.js';
import { PolicyEngine, type Violation } from './policy-engine.js';
import { RelayTracker } from './relay-tracker.js';
import type { RuleMatch, SequenceMatcher } from './sequence-matcher.js';
import { TaskLifetimes } from './task-lifetimes.js';

/**
 * Correlation of one stream: each resolved event feeds the flow tracker; the
 * event and the facts it produced (`flow.transmit`, `flow.fd_sent`,
 * `flow.fd_received`) feed the chain rules; rule matches become findings
 * (new chains at once; repeats update counters, reported as FindingBuilder
 * says: when the sender exits, after a quiet spell, periodically, at the end).
 */
export class Correlator {
  private readonly relays = new RelayTracker();
  /** Behaviour features for baselines (learning or scoring), if any. */
  behaviour: BehaviourFeatures | undefined;
  private readonly deviations: Deviation[] = [];
  private readonly intents = new Map<string, string | undefined>();
  private readonly lifetimes = new TaskLifetimes();
  /** Where a baseline scorer reports: each deviation becomes a finding, in order. */
  readonly onDeviation = (d: Deviation): void => {
    this.deviations.push(d);
  };

  constructor(
    readonly flow: FlowTracker,
    readonly rules: SequenceMatcher,
    readonly findings: FindingBuilder,
    /** The capability policy, if one is in force (replaceable: SIGHUP reloads). */
    public policy?: PolicyEngine,
    /** With --enforce: kills the process behind a violation of an intent with on_violation: kill. */
    private readonly enforce?: (v: Violation) => 'killed' | 'kill-failed',
  ) {}

  /** New findings caused by this event, and updated ones now due (chains gone quiet before it, or ended by it). */
  observe(ev: Event): Finding[] {
    this.findings.noteLoss(ev);
    const due = this.findings.due(ev.ts);
    const out = this.report(this.rules.observe(ev));
    if (due.length > 0) out.unshift(...due);
    if (this.policy) for (const v of this.policy.observe(ev)) out.push(this.violation(v));
    if (this.behaviour) {
      const task = ev.proc?.task;
      if (task !== undefined && !this.intents.has(task)) this.intents.set(task, this.policy?.intentOf(ev.cgroup, task));
      this.behaviour.observe(ev);
    }
    for (const t of this.flow.observe(ev)) {
      const fact = transmitFact(t);
      this.behaviour?.observeTransmit(fact);
      out.push(...this.report(this.rules.observe(fact)));
      if (this.policy) for (const v of this.policy.observeTransmit(fact)) out.push(this.violation(v));
    }
    for (const fact of this.relays.observe(ev)) out.push(...this.report(this.rules.observe(fact)));
    if (ev.kind === 'fd.rights') {
      for (const fact of fdPassFacts(ev, (v) => this.flow.sensitivityOf(v))) out.push(...this.report(this.rules.observe(fact)));
    }
    if (this.behaviour) this.drainDeviations(out);
    if (ev.kind === 'process.exit' && ev.group_dead) for (const f of this.findings.senderGone(ev.pid)) out.push(f);
    const ended = this.lifetimes.observe(ev);
    if (ended !== undefined) this.taskEnded(ended, out);
    return out;
  }

  /** The last cgroup of a task was removed: its last behaviour samples are scored, then what is kept per task is released. */
  private taskEnded(task: string, out: Finding[]): void {
    if (this.behaviour) {
      this.behaviour.endTask(task);
      this.drainDeviations(out);
    }
    this.intents.delete(task);
    this.policy?.taskEnded(task);
  }

  /** Tasks kept per task by this stream's stages (intents, behaviour features, rate windows): for tests and the health report. */
  get tasksKept(): { live: number; intents: number; behaviour: number; rates: number } {
    return { live: this.lifetimes.live, intents: this.intents.size, behaviour: this.behaviour?.tasksKept ?? 0, rates: this.policy?.ratesKept ?? 0 };
  }

  /** The state saw a channel (pipe, socket pair, memfd) lose its last descriptor. */
  channelGone(channel: string): void {
    this.flow.channelGone(channel);
    this.relays.channelGone(channel);
  }

  /** Puts a (reloaded) policy in force: the engine keeps what the stream told it; findings from now on carry the new hash. */
  usePolicy(p: EffectivePolicy, sha256: string, verifyDigests: boolean): void {
    if (this.policy) this.policy.replacePolicy(p);
    else this.policy = new PolicyEngine(p, { verifyDigests });
    this.findings.setPolicyHash(sha256);
  }

  /** Puts reloaded detection rules in force: data classes for reads from now on, chain rules (unchanged ones keep their partial sequences). */
  useRules(rules: ChainRule[], classify: (path: string) => readonly string[], readToServe: (cls: string, task: string) => boolean): void {
    this.flow.useClasses(classify, readToServe);
    this.rules.replaceRules(rules);
  }

  /** The intent the policy's manifest gives a task seen so far (baselines are per intent). */
  intentOfTask(task: string): string | undefined {
    return this.intents.get(task);
  }

  private drainDeviations(out: Finding[]): void {
    for (const d of this.deviations.splice(0)) out.push(this.findings.fromDeviation(d));
  }

  /**
   * Time has reached `ts` outside the event stream (live: the probe's
   * TICKs), so an `absent` window on a quiet task still ends. Every event
   * before `ts` must already have been observed.
   */
  tick(ts: number): Finding[] {
    const due = this.findings.due(ts);
    const out = this.report(this.rules.tick(ts));
    return due.length > 0 ? [...due, ...out] : out;
  }

  /** End of stream: sequences still waiting on `absent` complete, and chains whose counters changed are re-reported. */
  flush(): Finding[] {
    const out = [...this.report(this.rules.flush()), ...this.findings.flush()];
    if (this.behaviour) {
      this.behaviour.finish();
      this.drainDeviations(out);
    }
    return out;
  }

  private violation(v: Violation): Finding {
    const action = v.killedInKernel ? 'killed' : v.onViolation === 'kill' ? (this.enforce ? this.enforce(v) : 'would-kill') : 'alert';
    return this.findings.fromViolation(v, action);
  }

  private report(matches: RuleMatch[]): Finding[] {
    return matches.length === 0 ? [] : this.findings.onMatches(matches);
  }
}
