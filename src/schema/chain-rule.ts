import { z } from 'zod';
import { Category, Severity } from './finding.js';

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
  });
export type ChainRuleFile = z.infer<typeof ChainRuleFile>;
