import { z } from 'zod';
import { Family } from './event.js';

/** One hop of a chain: where the data was, in which process, through which syscall. */
export const ChainHop = z.object({
  pid: z.number().int(),
  comm: z.string(),
  syscall: z.string(),
  fd: z.number().int(),
  /** What the fd pointed at: a path, `socket 127.0.0.2:9911`, `pipe 0:15:123`, … */
  object: z.string(),
  ts_ns: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
export type ChainHop = z.infer<typeof ChainHop>;

export const Severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
export const Category = z.enum(['exfiltration', 'reverse-shell', 'policy', 'baseline', 'integrity']);

/**
 * A process as a finding names it: command line as exec'd (`args`, cut to a
 * size a SIEM accepts: `args_truncated`, also when the probe cut it).
 */
export const ProcessRef = z.object({
  pid: z.number().int(),
  comm: z.string(),
  exe: z.string().optional(),
  args: z.array(z.string()).optional(),
  args_truncated: z.literal(true).optional(),
});
export type ProcessRef = z.infer<typeof ProcessRef>;

/**
 * A finding: one per chain (later sends of the same chain update its
 * counters, they do not make new findings).
 */
export const Finding = z.object({
  /** Stable: the same chain always gets the same id (a hash of rule, task, source and sink). */
  id: z.string().regex(/^[0-9a-f]{24}$/),
  time: z.string(),
  ts_ns: z.number().int().nonnegative(),
  rule: z.string(),
  category: Category,
  severity: Severity,
  task: z.string(),
  host: z.string(),
  /** The process that acted, its command line and who started it (nearest ancestor first). */
  process: z.object({ pid: z.number().int(), ppid: z.number().int(), ...ProcessRef.omit({ pid: true }).shape, ancestors: z.array(ProcessRef).optional() }),
  source: z.object({ path: z.string().optional(), data_class: z.string().optional(), object: z.string().optional() }),
  sink: z.object({
    family: Family.optional(),
    address: z.string().optional(),
    port: z.number().int().optional(),
    path: z.string().optional(),
  }),
  bytes_read: z.number().int().nonnegative(),
  bytes_sent: z.number().int().nonnegative(),
  /** First sensitive read to the (first) transmit. */
  latency_ms: z.number().nonnegative(),
  sends: z.number().int().positive(),
  chain: z.array(ChainHop),
  /** Kernel events lost while the chain ran: "no finding" and "events were lost" must be told apart. */
  coverage: z.object({ lost_events: z.number().int().nonnegative(), window_start_ns: z.number().int(), window_end_ns: z.number().int() }),
  policy_hash: z.string().nullable(),
  summary: z.string(),
  /** What chainwatch did: alert, or (intents with on_violation: kill) would-kill in a dry run, killed or kill-failed with --enforce. */
  action: z.enum(['alert', 'would-kill', 'killed', 'kill-failed']).optional(),
  /** Policy findings: the task's intent and the capability or limit involved (with its reason and risk). */
  policy: z
    .object({
      intent: z.string(),
      capability: z.string().optional(),
      why: z.string().optional(),
      risk: z.string().optional(),
      violation: z.string(),
    })
    .optional(),
});
export type Finding = z.infer<typeof Finding>;
