import { FEATURE_TEXT, type Baseline, type NumericFeature } from '../schema/baseline.js';
import type { FeatureSink, Member, Origin, Sample, Transition } from './behaviour-features.js';

/**
 * Scores a task's behaviour against its intent's baseline as events arrive.
 * A deviation names the feature, the observed value and the learned range:
 * a number outside [p1·(1−slack), p99·(1+slack)] (never tighter than the
 * learned min–max, and timings by another 10 ms each side), a member never seen (executable, destination, data
 * class), a transition between event kinds never seen for a known process
 * role, or a role never seen. Each is reported once per task and key.
 * A feature learned from fewer than `minSamples` samples is not scored.
 */
export interface ScoringOptions {
  /** Widening of the p1–p99 range (default 0.5: 50% below p1, 50% above p99). */
  slack: number;
  minSamples: number;
  /** Score transitions between event kinds (default on). */
  transitions: boolean;
}

/** Timings below this much apart are scheduler noise, not behaviour: ranges are widened by it on both sides. */
const ABS_TOLERANCE: Partial<Record<NumericFeature, number>> = { read_to_transmit_ms: 10, send_gap_ms: 10 };

export const DEFAULT_SCORING: ScoringOptions = { slack: 0.5, minSamples: 5, transitions: true };

export interface Deviation extends Origin {
  feature: string;
  /** Stable key (one report per task and key). */
  key: string;
  summary: string;
}

function fmt(v: number, unit: string): string {
  if (unit === 'ms') return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`;
  const n = Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : Math.abs(v) >= 0.01 || v === 0 ? String(Math.round(v * 1000) / 1000) : v.toPrecision(2);
  return unit === 'B' ? `${n} bytes` : n;
}

export class BaselineScorer implements FeatureSink {
  /** Keys reported, per task (forgotten when the task ends). */
  private readonly reported = new Map<string, Set<string>>();
  private readonly sets: Record<Member['set'], Set<string>>;
  private readonly transitionsOf: Map<string, Set<string>>;

  constructor(
    readonly baseline: Baseline,
    private readonly appliesTo: (task: string) => boolean,
    private readonly onDeviation: (d: Deviation) => void,
    private readonly o: ScoringOptions = DEFAULT_SCORING,
  ) {
    this.sets = {
      executables: new Set(baseline.sets.executables),
      destinations: new Set(baseline.sets.destinations),
      data_classes: new Set(baseline.sets.data_classes),
    };
    this.transitionsOf = new Map(Object.entries(baseline.transitions).map(([role, t]) => [role, new Set(Object.keys(t))]));
  }

  private report(at: Origin, feature: string, key: string, summary: string): void {
    let keys = this.reported.get(at.task);
    if (keys === undefined) this.reported.set(at.task, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    this.onDeviation({ ...at, feature, key, summary: `${summary} (baseline of intent ${this.baseline.intent}, ${this.baseline.runs} runs)` });
  }

  taskEnded(task: string): void {
    this.reported.delete(task);
  }

  range(f: NumericFeature): { lo: number; hi: number } | undefined {
    const d = this.baseline.features[f];
    if (d === undefined || d.n < this.o.minSamples) return undefined;
    const abs = ABS_TOLERANCE[f] ?? 0;
    return { lo: Math.min(d.p1 * (1 - this.o.slack), d.min) - abs, hi: Math.max(d.p99 * (1 + this.o.slack), d.max) + abs };
  }

  sample(s: Sample): void {
    if (!this.appliesTo(s.task)) return;
    const r = this.range(s.feature);
    if (r === undefined) return;
    const high = s.value > r.hi;
    const low = !s.partial && s.value < r.lo;
    if (!high && !low) return;
    const t = FEATURE_TEXT[s.feature];
    const d = this.baseline.features[s.feature]!;
    this.report(s, s.feature, `${s.feature}:${high ? 'high' : 'low'}`, `${t.what} ${fmt(s.value, t.unit)}${s.partial ? ' so far' : ''}, baseline p1–p99 ${fmt(d.p1, t.unit)}–${fmt(d.p99, t.unit)}`);
  }

  member(m: Member): void {
    if (!this.appliesTo(m.task) || this.sets[m.set].has(m.value)) return;
    const what = m.set === 'executables' ? 'executable' : m.set === 'destinations' ? 'destination' : 'data class sent';
    this.report(m, m.set, `${m.set}:${m.value}`, `${what} ${m.value} never seen for intent ${this.baseline.intent}`);
  }

  transition(t: Transition): void {
    if (!this.o.transitions || !this.appliesTo(t.task)) return;
    const known = this.transitionsOf.get(t.role);
    if (known === undefined) {
      this.report(t, 'roles', `role:${t.role}`, `process role ${t.role} never seen for intent ${this.baseline.intent}`);
      return;
    }
    if (!known.has(t.transition)) this.report(t, 'transitions', `transition:${t.role}:${t.transition}`, `${t.role}: event sequence ${t.transition} never seen for this role`);
  }
}

/** One sink scoring every task against the baseline of its intent (a single baseline also covers tasks with no intent). */
export function scoreAgainst(baselines: Baseline[], intentOf: (task: string) => string | undefined, onDeviation: (d: Deviation) => void, o: ScoringOptions = DEFAULT_SCORING): FeatureSink {
  const scorers = baselines.map(
    (b) => new BaselineScorer(b, (task) => {
      const i = intentOf(task);
      return i === b.intent || (i === undefined && baselines.length === 1);
    }, onDeviation, o),
  );
  return {
    sample: (x) => scorers.forEach((s) => s.sample(x)),
    member: (x) => scorers.forEach((s) => s.member(x)),
    transition: (x) => scorers.forEach((s) => s.transition(x)),
    taskEnded: (task) => scorers.forEach((s) => s.taskEnded(task)),
  };
}
