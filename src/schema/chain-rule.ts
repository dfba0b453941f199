import { z } from 'zod';
import { Category, Severity } from './finding.js';
import { FACT_KINDS, RULE_FIELDS, fieldOf, type FieldInfo } from './rule-fields.js';

/** `250ms`, `30s`, `5m`, `1h` → nanoseconds. */
export const Duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ns|us|ms|s|m|h)$/, 'expected a duration like 500ms, 30s or 5m')
  .transform((d) => {
    const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(d)!;
    const unit = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 'ns'];
    return Math.round(Number(m[1]) * unit);
  });

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * What a field must be. A scalar: equal. A list: any of. `{glob}`: a string
 * matching a glob (or any of several). `{gt, gte, lt, lte}`: a number or a
 * duration. `{not}`: anything but. `{exists}`: present or absent.
 */
export const FieldTest = z.union([
  Scalar,
  z.array(Scalar).min(1),
  z
    .object({
      glob: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
      gt: z.union([z.number(), Duration]).optional(),
      gte: z.union([z.number(), Duration]).optional(),
      lt: z.union([z.number(), Duration]).optional(),
      lte: z.union([z.number(), Duration]).optional(),
      not: z.union([Scalar, z.array(Scalar).min(1)]).optional(),
      exists: z.boolean().optional(),
    })
    .strict()
    .refine((o) => Object.keys(o).length > 0, { message: 'expected at least one of glob, gt, gte, lt, lte, not, exists' }),
]);
export type FieldTest = z.infer<typeof FieldTest>;

/** Field paths into the event (e.g. `kind`, `res.oldfd.family`, `proc.comm`) and what each must be; all must hold. */
export const Match = z.record(z.string().regex(/^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'expected a field path like res.fd.type'), FieldTest);
export type Match = z.infer<typeof Match>;

/**
 * One step: one match, alternatives (`any`: the step holds when one of them
 * does), or, as the last step only, `absent`: nothing matching happens
 * `within` the given time after the previous step.
 */
export const Step = z.union([
  z.object({ match: Match }).strict(),
  z.object({ any: z.array(Match).min(1) }).strict(),
  z.object({ absent: Match, within: Duration }).strict(),
]);
export type Step = z.infer<typeof Step>;

export const ChainRule = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/, 'expected a dotted rule id like exfil.read-then-transmit'),
    category: Category,
    severity: Severity,
    /** Why this chain matters: shown to reviewers. */
    why: z.string().min(1),
    /**
     * A field path into the first matched step that identifies one finding
     * (e.g. `res.ret.channel`: one reverse-shell finding per socket, however
     * many processes of that shell match). Default: one per join key.
     */
    one_finding_per: z.string().regex(/^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'expected a field path like res.ret.channel').optional(),
    /** When this rule matches an event, these rules' matches on the same event are dropped (the more specific wins). */
    supersedes: z.array(z.string()).optional(),
    sequence: z
      .object({
        /** What joins the steps: the same process, the same task, or the same data-flow chain. */
        by: z.enum(['process', 'tree', 'task', 'flow']),
        maxspan: Duration.optional(),
        steps: z
          .array(Step)
          .min(1)
          .max(8)
          .superRefine((steps, ctx) => {
            steps.forEach((st, i) => {
              if ('absent' in st && (i === 0 || i !== steps.length - 1)) {
                ctx.addIssue({ code: 'custom', path: [i], message: 'an absent step must be the last step, after at least one other' });
              }
            });
          }),
      })
      .strict(),
  })
  .strict();
export type ChainRule = z.infer<typeof ChainRule>;

export const ChainRuleFile = z
  .object({
    version: z.literal(1),
    rules: z.array(ChainRule).min(1),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${r.id}` });
      seen.add(r.id);
    });
    f.rules.forEach((r, i) =>
      (r.supersedes ?? []).forEach((s, j) => {
        if (!seen.has(s)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'supersedes', j], message: `no rule ${s} in this file` });
      }),
    );
    f.rules.forEach((r, i) => {
      for (const p of ruleProblems(r)) ctx.addIssue({ code: 'custom', path: ['rules', i, ...p.path], message: p.message });
    });
  });
export type ChainRuleFile = z.infer<typeof ChainRuleFile>;

/** A place in a rule (from the rule down) and what is wrong there. */
export interface RuleProblem {
  path: (string | number)[];
  message: string;
}

/** The matches of a step (any one of them satisfies it), each with its place in the step. */
export function stepAlternatives(step: Step): [(string | number)[], Match][] {
  return 'match' in step ? [[['match'], step.match]] : 'any' in step ? step.any.map((m, k) => [['any', k], m]) : [[['absent'], step.absent]];
}

const ALL_KINDS = [...RULE_FIELDS.keys()];
const FACTS = new Set(FACT_KINDS);

/**
 * What in a rule can never match: a `kind` no input has, a field the named
 * kinds do not carry, a value a field cannot hold (an enum member that does
 * not exist, a string for a number), a test of the wrong type, a `by: flow`
 * step on an event (only flow facts carry the chain it joins on). Such a
 * rule would load and never fire; it is refused with the place instead.
 */
export function ruleProblems(r: ChainRule): RuleProblem[] {
  const out: RuleProblem[] = [];
  let firstKinds: string[] = ALL_KINDS;
  r.sequence.steps.forEach((step, j) => {
    const kinds: string[] = [];
    for (const [at, m] of stepAlternatives(step)) kinds.push(...matchProblems(m, r.sequence.by, ['sequence', 'steps', j, ...at], out));
    if (j === 0) firstKinds = kinds;
  });
  if (r.one_finding_per !== undefined && firstKinds.length > 0 && !firstKinds.some((k) => fieldOf(k, r.one_finding_per!) !== undefined)) {
    out.push({ path: ['one_finding_per'], message: `the first step's inputs (${describeKinds(firstKinds)}) have no field ${r.one_finding_per}${suggest(r.one_finding_per, fieldsOf(firstKinds))}` });
  }
  return out;
}

/** The kinds a match can hold for (none when it names only unknown ones), with its problems pushed onto `out`. */
function matchProblems(m: Match, by: ChainRule['sequence']['by'], at: (string | number)[], out: RuleProblem[]): string[] {
  const k = m['kind'];
  const named = typeof k === 'string' ? [k] : Array.isArray(k) ? k : undefined;
  let kinds = ALL_KINDS;
  if (named !== undefined) {
    kinds = [];
    for (const x of named) {
      if (typeof x === 'string' && RULE_FIELDS.has(x)) kinds.push(x);
      else out.push({ path: [...at, 'kind'], message: `no input has kind ${JSON.stringify(x)}${typeof x === 'string' ? suggest(x, ALL_KINDS) : ''} (kinds: ${ALL_KINDS.join(', ')})` });
    }
    const events = kinds.filter((x) => !FACTS.has(x));
    if (by === 'flow' && events.length > 0) {
      out.push({ path: [...at, 'kind'], message: `by: flow joins on the data-flow chain, which only flow facts (${FACT_KINDS.join(', ')}) carry: ${events.join(', ')} never matches (join events by process, tree or task)` });
    }
    if (kinds.length === 0) return kinds;
  } else if (k !== undefined) {
    const p = testProblem('kind', k, { types: new Set(['string']), values: new Set(ALL_KINDS) });
    if (p !== undefined) out.push({ path: [...at, 'kind'], message: p });
  }
  for (const [path, test] of Object.entries(m)) {
    if (path === 'kind') continue;
    const infos = kinds.map((x) => fieldOf(x, path)).filter((f): f is FieldInfo => f !== undefined);
    if (infos.length === 0) {
      out.push({ path: [...at, path], message: `${kinds.length === ALL_KINDS.length ? 'no input has a' : `${describeKinds(kinds)} ${kinds.length === 1 ? 'has' : 'have'} no`} field ${path}${suggest(path, fieldsOf(kinds))} (see chainwatch rules fields)` });
      continue;
    }
    const merged: FieldInfo = { types: new Set(infos.flatMap((f) => [...f.types])) };
    if (infos.every((f) => f.values !== undefined)) merged.values = new Set(infos.flatMap((f) => [...f.values!]));
    const p = testProblem(path, test, merged);
    if (p !== undefined) out.push({ path: [...at, path], message: p });
  }
  return kinds;
}

function testProblem(path: string, test: FieldTest, f: FieldInfo): string | undefined {
  const held = [...f.types].join(' or ');
  if (!f.types.has('string') && !f.types.has('number') && !f.types.has('boolean') && !(typeof test === 'object' && !Array.isArray(test) && Object.keys(test).every((k) => k === 'exists'))) {
    return `${path} is ${f.types.has('array') ? 'a list' : 'an object'}: test one of its fields (e.g. ${path}.${f.types.has('array') ? '0' : '…'}) or use {exists: true}`;
  }
  const scalar = (v: string | number | boolean): string | undefined => {
    const t = typeof v as 'string' | 'number' | 'boolean';
    if (!f.types.has(t)) return `${path} holds a ${held}, so ${JSON.stringify(v)} never matches`;
    if (t === 'string' && f.values !== undefined && !f.values.has(v as string)) {
      return `${path} is one of ${[...f.values].join(', ')}: ${JSON.stringify(v)} never matches${suggest(v as string, [...f.values])}`;
    }
    return undefined;
  };
  const scalars = (v: string | number | boolean | (string | number | boolean)[]): string | undefined => {
    for (const x of Array.isArray(v) ? v : [v]) {
      const p = scalar(x);
      if (p !== undefined) return p;
    }
    return undefined;
  };
  if (typeof test !== 'object' || Array.isArray(test)) return scalars(test);
  if (test.glob !== undefined && !f.types.has('string')) return `glob needs a string, and ${path} holds a ${held}`;
  for (const op of ['gt', 'gte', 'lt', 'lte'] as const) if (test[op] !== undefined && !f.types.has('number')) return `${op} needs a number, and ${path} holds a ${held}`;
  return test.not === undefined ? undefined : scalars(test.not);
}

function describeKinds(kinds: string[]): string {
  return kinds.length === ALL_KINDS.length ? 'any kind' : kinds.length === 1 ? `kind ${kinds[0]}` : `kinds ${kinds.join(', ')}`;
}

function fieldsOf(kinds: string[]): string[] {
  return [...new Set(kinds.flatMap((k) => [...RULE_FIELDS.get(k)!.keys()]))];
}

/** `; did you mean X?` for the closest candidate within a few edits, else nothing. */
function suggest(got: string, candidates: string[]): string {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(got.length / 4)) + 1;
  for (const c of candidates) {
    const d = editDistance(got, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best === undefined ? '' : `; did you mean ${best}?`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
