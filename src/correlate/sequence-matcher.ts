import picomatch from 'picomatch';
import { stepAlternatives, type ChainRule, type FieldTest, type Match, type Step } from '../schema/chain-rule.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * What rules match: a resolved canonical event, or a fact the flow tracker
 * derived (`flow.transmit`). Fields are read by dotted path.
 */
export interface RuleInput {
  kind: string;
  ts: number;
  pid: number;
  proc?: { task: string; tree?: number | undefined } | undefined;
  /** Data-flow chain identity (flow facts only). */
  chain_key?: string;
}

export interface RuleMatch {
  rule: ChainRule;
  key: string;
  /** The inputs that satisfied the steps, in order. */
  inputs: RuleInput[];
}

interface Partial {
  step: number;
  startTs: number;
  inputs: RuleInput[];
  /** Waiting on a final `absent` step: completes when an input later than this arrives (or the stream ends). */
  deadline?: number;
  dead?: boolean;
}

type Compiled = {
  rule: ChainRule;
  steps: ((x: RuleInput) => boolean)[];
  absentWithin: number | undefined;
  /** Every `kind` any step can match, or null when some step does not name its kinds: an input of another kind cannot change the rule's state. */
  kinds: Set<string> | null;
};

/** Returned when nothing matched (frozen: a caller that pushes onto it fails loudly). */
const NONE = Object.freeze([]) as unknown as RuleMatch[];
const NO_PARTIALS: readonly Partial[] = Object.freeze([]);

const MAX_PARTIALS_PER_KEY = 16;
const MAX_KEYS_PER_RULE = 100_000;

/**
 * The chain-rule engine: for each rule, one small state machine per join
 * key (process, task or flow chain). A step that matches advances every
 * partial sequence of its key; a partial older than `maxspan` is dropped
 * before it can advance. Among the matches one input completes, a rule that
 * another matching rule `supersedes` is dropped.
 */
export class SequenceMatcher {
  private compiled: Compiled[];
  private readonly partials = new Map<string, { byKey: Map<string, Partial[]>; order: OldestFirst<string, Partial[]> }>();
  /** Partials waiting on an absent step. */
  private readonly waiting: { c: Compiled; key: string; p: Partial }[] = [];

  constructor(rules: ChainRule[]) {
    this.compiled = rules.map(compileRule);
  }

  /**
   * Reloaded rules. A rule whose definition did not change keeps its partial
   * sequences (a chain half seen before the reload still completes); a
   * changed or removed rule's partials are dropped, and a new or changed
   * rule starts from the next input.
   */
  replaceRules(rules: ChainRule[]): void {
    const before = new Map(this.compiled.map((c) => [c.rule.id, c]));
    this.compiled = rules.map((rule) => {
      const old = before.get(rule.id);
      return old !== undefined && JSON.stringify(old.rule) === JSON.stringify(rule) ? old : compileRule(rule);
    });
    const kept = new Set(this.compiled.filter((c) => before.get(c.rule.id) === c));
    const keptIds = new Set([...kept].map((c) => c.rule.id));
    for (const id of [...this.partials.keys()]) if (!keptIds.has(id)) this.partials.delete(id);
    const waiting = this.waiting.filter((w) => kept.has(w.c));
    this.waiting.splice(0, this.waiting.length, ...waiting);
  }

  private advance(c: Compiled, key: string, p: Partial, ts: number): Partial {
    if (c.absentWithin !== undefined && p.step === c.steps.length - 1) {
      p.deadline = ts + c.absentWithin;
      this.waiting.push({ c, key, p });
    }
    return p;
  }

  /** Completes every sequence still waiting on an absent step (the stream ended without it). */
  flush(): RuleMatch[] {
    const out = this.waiting.filter((w) => !w.p.dead).map((w) => ({ rule: w.c.rule, key: w.key, inputs: w.p.inputs }));
    this.waiting.length = 0;
    return out;
  }

  /**
   * Time has reached `ts` (every input up to it has been observed): the
   * sequences whose absent window ended before it are complete.
   */
  tick(ts: number): RuleMatch[] {
    if (this.waiting.length === 0) return NONE;
    const done: RuleMatch[] = [];
    const still: typeof this.waiting = [];
    for (const w of this.waiting) {
      if (w.p.dead) continue;
      if (w.p.deadline! < ts) {
        w.p.dead = true;
        done.push({ rule: w.c.rule, key: w.key, inputs: w.p.inputs });
      } else still.push(w);
    }
    this.waiting.splice(0, this.waiting.length, ...still);
    return done;
  }

  observe(x: RuleInput): RuleMatch[] {
    // absent steps whose window has passed: the thing did not happen, the sequence is complete
    let done = this.tick(x.ts);
    for (const c of this.compiled) {
      // an input no step can match leaves every partial as it is (expired ones are dropped at the next input that can)
      if (c.kinds !== null && !c.kinds.has(x.kind)) continue;
      const { rule, steps } = c;
      const ofRule = this.partials.get(rule.id);
      const starts = steps[0]!(x);
      // nothing waits in this rule and the input starts nothing: no key, no allocation (most inputs)
      if (!starts && (ofRule === undefined || ofRule.byKey.size === 0)) continue;
      const key = keyOf(x, rule.sequence.by);
      if (key === undefined) continue;
      const had = ofRule?.byKey.get(key);
      if (had === undefined && !starts) continue;
      const span = rule.sequence.maxspan;
      const next: Partial[] = [];
      for (const p of had ?? NO_PARTIALS) {
        // a sequence waiting on `absent` is bounded by that step's window, not by maxspan
        if (p.dead || (p.deadline === undefined && span !== undefined && x.ts - p.startTs > span)) continue;
        if (p.deadline !== undefined) {
          // waiting on `absent`: the awaited thing happened, so this sequence is void
          if (steps[p.step]!(x)) p.dead = true;
          else next.push(p);
          continue;
        }
        if (steps[p.step]!(x)) {
          const inputs = [...p.inputs, x];
          if (p.step + 1 === steps.length) (done === NONE ? (done = []) : done).push({ rule, key, inputs });
          else next.push(this.advance(c, key, { step: p.step + 1, startTs: p.startTs, inputs }, x.ts));
        } else {
          next.push(p);
        }
      }
      if (starts) {
        if (steps.length === 1) (done === NONE ? (done = []) : done).push({ rule, key, inputs: [x] });
        else next.push(this.advance(c, key, { step: 1, startTs: x.ts, inputs: [x] }, x.ts));
      }
      if (next.length === 0) {
        if (had !== undefined) ofRule!.byKey.delete(key);
        continue;
      }
      let rulePartials = ofRule;
      if (rulePartials === undefined) {
        const byKey = new Map<string, Partial[]>();
        rulePartials = { byKey, order: new OldestFirst(byKey) };
        this.partials.set(rule.id, rulePartials);
      }
      if (had === undefined && rulePartials.byKey.size >= MAX_KEYS_PER_RULE) rulePartials.order.evict();
      rulePartials.byKey.set(key, next.length > MAX_PARTIALS_PER_KEY ? next.slice(-MAX_PARTIALS_PER_KEY) : next);
    }
    if (done.length < 2) return done;
    const superseded = new Set(done.flatMap((m) => (m.rule.supersedes ?? []).map((id) => `${id}\n${m.key}`)));
    return done.filter((m) => !superseded.has(`${m.rule.id}\n${m.key}`));
  }
}

function compileRule(rule: ChainRule): Compiled {
  const last = rule.sequence.steps[rule.sequence.steps.length - 1]!;
  return { rule, steps: rule.sequence.steps.map(compileStep), absentWithin: 'absent' in last ? last.within : undefined, kinds: kindsOf(rule.sequence.steps) };
}

function kindsOf(steps: Step[]): Set<string> | null {
  const kinds = new Set<string>();
  for (const step of steps) {
    for (const m of alternativesOf(step)) {
      const k = m['kind'];
      if (typeof k === 'string') kinds.add(k);
      else if (Array.isArray(k) && k.every((x) => typeof x === 'string')) for (const x of k) kinds.add(x as string);
      else return null;
    }
  }
  return kinds;
}

function keyOf(x: RuleInput, by: ChainRule['sequence']['by']): string | undefined {
  const task = x.proc?.task ?? '';
  switch (by) {
    case 'process':
      return `${task}|${x.pid}`;
    case 'tree':
      return `${task}|t${x.proc?.tree ?? x.pid}`;
    case 'task':
      return task;
    case 'flow':
      return x.chain_key;
  }
}

/** The matches a step is satisfied by (any one of them). */
function alternativesOf(step: Step): Match[] {
  return stepAlternatives(step).map(([, m]) => m);
}

function compileStep(step: Step): (x: RuleInput) => boolean {
  const compiled = alternativesOf(step).map(compileMatch);
  return (x) => compiled.some((m) => m(x));
}

function compileMatch(match: Match): (x: RuleInput) => boolean {
  const tests = Object.entries(match).map(([path, test]) => {
    const parts = path.split('.');
    const t = compileTest(test);
    return (x: RuleInput): boolean => {
      let v: unknown = x;
      for (const p of parts) {
        if (v === null || typeof v !== 'object') return t(undefined);
        v = (v as Record<string, unknown>)[p];
      }
      return t(v);
    };
  });
  return (x) => tests.every((t) => t(x));
}

function compileTest(test: FieldTest): (v: unknown) => boolean {
  if (Array.isArray(test)) return (v) => test.includes(v as never);
  if (typeof test !== 'object') return (v) => v === test;
  const checks: ((v: unknown) => boolean)[] = [];
  if (test.glob !== undefined) {
    const m = picomatch(test.glob, { dot: true });
    checks.push((v) => typeof v === 'string' && m(v));
  }
  const num = (f: (n: number) => boolean) => (v: unknown) => typeof v === 'number' && f(v);
  if (test.gt !== undefined) checks.push(num((n) => n > test.gt!));
  if (test.gte !== undefined) checks.push(num((n) => n >= test.gte!));
  if (test.lt !== undefined) checks.push(num((n) => n < test.lt!));
  if (test.lte !== undefined) checks.push(num((n) => n <= test.lte!));
  if (test.not !== undefined) {
    const not = Array.isArray(test.not) ? test.not : [test.not];
    checks.push((v) => !not.includes(v as never));
  }
  if (test.exists !== undefined) checks.push((v) => (v !== undefined) === test.exists);
  return (v) => checks.every((c) => c(v));
}
