import { Correlator } from '../correlate/correlator.js';
import { FindingBuilder } from '../correlate/finding-builder.js';
import { FlowTracker } from '../correlate/flow-tracker.js';
import { PolicyEngine, type Violation } from '../correlate/policy-engine.js';
import { SequenceMatcher } from '../correlate/sequence-matcher.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import { loadRuleSet, type RuleSet } from '../rules/rule-set.js';
import type { Finding } from '../schema/finding.js';
import type { Baseline } from '../schema/baseline.js';
import { BehaviourFeatures, type FeatureSink } from '../correlate/behaviour-features.js';
import { scoreAgainst, type ScoringOptions } from '../correlate/baseline-scorer.js';
import type { Correlation } from './pipeline.js';

export interface CorrelationSetup {
  /** Folder with data-classes.yaml and chains.yaml (default: the installed rules/). */
  rulesDir?: string | undefined;
  /** The rules, already loaded (loaded from `rulesDir` otherwise). */
  rules?: RuleSet | undefined;
  host: string;
  /** Wall-clock ns of the stream's epoch (findings carry wall time). */
  wallEpochNs: bigint;
  /** The capability policy in force, if any. */
  policy?: LoadedPolicy | undefined;
  /** Live with --enforce: kill the process behind a violation of an intent with on_violation: kill. */
  enforce?: ((v: Violation) => 'killed' | 'kill-failed') | undefined;
  /** Check executables' digests (live only). */
  verifyDigests?: boolean;
  onFinding: (f: Finding) => void;
  /** Score tasks against the baseline of their intent (docs/baselines.md). */
  baselines?: Baseline[] | undefined;
  scoring?: ScoringOptions | undefined;
  /** Learning (baseline learn): every behaviour feature goes here, nothing is scored. */
  learner?: FeatureSink | undefined;
  /** The state stage this correlation follows: which task a live process is in (undefined: outside the watch). */
  taskOfPid?: (pid: number) => string | undefined;
}

/** Data classes, flow following, chain rules and findings, loaded from rules/: the same for watch and replay. */
export function buildCorrelation(o: CorrelationSetup): Correlation {
  const { classes, chains } = o.rules ?? loadRuleSet(o.rulesDir);
  const correlator = new Correlator(
    new FlowTracker((p) => classes.classify(p), undefined, (cls, task) => classes.readToServe(cls, task), o.taskOfPid),
    new SequenceMatcher(chains.rules),
    new FindingBuilder({ host: o.host, wallEpochNs: o.wallEpochNs, policyHash: o.policy?.sha256 ?? null }),
    o.policy && new PolicyEngine(o.policy.effective, { verifyDigests: o.verifyDigests ?? false }),
    o.enforce,
  );
  if (o.learner) correlator.behaviour = new BehaviourFeatures(o.learner);
  else if (o.baselines !== undefined && o.baselines.length > 0) {
    correlator.behaviour = new BehaviourFeatures(scoreAgainst(o.baselines, (t) => correlator.intentOfTask(t), correlator.onDeviation, o.scoring));
  }
  return { correlator, onFinding: o.onFinding };
}

/**
 * Puts what a reload read in force in a running correlation (SIGHUP, admin
 * reload; pipeline/reload.ts): the rules when they changed, the policy when
 * there is one.
 */
export function useReloaded(c: Correlation, r: { rules: RuleSet; policy: LoadedPolicy | undefined }, rulesChanged: boolean, verifyDigests: boolean): void {
  const { classes, chains } = r.rules;
  if (rulesChanged) c.correlator.useRules(chains.rules, (p) => classes.classify(p), (cls, task) => classes.readToServe(cls, task));
  if (r.policy !== undefined) c.correlator.usePolicy(r.policy.effective, r.policy.sha256, verifyDigests);
}
