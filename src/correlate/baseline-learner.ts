import { NUMERIC_FEATURES, type Baseline, type Distribution, type NumericFeature } from '../schema/baseline.js';
import type { FeatureSink, Member, Sample, Transition } from './behaviour-features.js';

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function distributionOf(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  // six significant digits: readable, and small ratios (bytes sent per byte read) keep their value
  const r = (x: number): number => Number(x.toPrecision(6));
  return {
    n: s.length,
    min: r(s[0] ?? 0),
    p1: r(quantile(s, 0.01)),
    p5: r(quantile(s, 0.05)),
    p25: r(quantile(s, 0.25)),
    p50: r(quantile(s, 0.5)),
    p75: r(quantile(s, 0.75)),
    p95: r(quantile(s, 0.95)),
    p99: r(quantile(s, 0.99)),
    max: r(s.at(-1) ?? 0),
  };
}

/**
 * Collects what the feature extractor measures over benign runs (complete
 * samples only: a running minute is not a minute) and turns it into the
 * baseline's distributions, sets and transition counts.
 */
export class BaselineLearner implements FeatureSink {
  private readonly samples = new Map<NumericFeature, number[]>();
  private readonly sets = { executables: new Set<string>(), destinations: new Set<string>(), data_classes: new Set<string>() };
  private readonly transitions = new Map<string, Map<string, number>>();
  readonly tasks = new Set<string>();

  constructor(private readonly accept: (task: string) => boolean = () => true) {}

  sample(s: Sample): void {
    if (s.partial || !this.accept(s.task)) return;
    this.tasks.add(s.task);
    let a = this.samples.get(s.feature);
    if (a === undefined) this.samples.set(s.feature, (a = []));
    a.push(s.value);
  }

  member(m: Member): void {
    if (!this.accept(m.task)) return;
    this.tasks.add(m.task);
    this.sets[m.set].add(m.value);
  }

  transition(t: Transition): void {
    if (!this.accept(t.task)) return;
    this.tasks.add(t.task);
    let r = this.transitions.get(t.role);
    if (r === undefined) this.transitions.set(t.role, (r = new Map()));
    r.set(t.transition, (r.get(t.transition) ?? 0) + 1);
  }

  result(): Pick<Baseline, 'features' | 'sets' | 'transitions' | 'runs'> {
    const features: Baseline['features'] = {};
    for (const f of NUMERIC_FEATURES) {
      const v = this.samples.get(f);
      if (v !== undefined && v.length > 0) features[f] = distributionOf(v);
    }
    const sorted = (s: Set<string>): string[] => [...s].sort();
    const transitions: Baseline['transitions'] = {};
    for (const role of [...this.transitions.keys()].sort()) {
      const m = this.transitions.get(role)!;
      transitions[role] = Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return {
      runs: this.tasks.size,
      features,
      sets: { executables: sorted(this.sets.executables), destinations: sorted(this.sets.destinations), data_classes: sorted(this.sets.data_classes) },
      transitions,
    };
  }
}
