import { BlockList, isIP } from 'node:net';
import picomatch from 'picomatch';
import { z } from 'zod';
import { Duration } from './chain-rule.js';
import { Family } from './event.js';

/**
 * The capability policy (rules/policy.yaml): task intents, what each may do,
 * and which sandboxes have which intent. Default-deny: within an intent,
 * whatever no capability grants is a violation. Every capability says why
 * it exists and which risk it answers.
 */

const Name = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lowercase name like summarize-document');

export const Glob = z.string().min(1).superRefine((g, ctx) => {
  if (!g.startsWith('/')) ctx.addIssue({ code: 'custom', message: `expected an absolute path glob like /home/*/docs/**, got "${g}"` });
  try {
    picomatch.makeRe(g, { dot: true, strictBrackets: true });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `not a valid glob: ${(e as Error).message}` });
  }
});

/** `10.0.0.0/8`, `127.0.0.2/32`, `::1/128`, or a bare address. */
export const Cidr = z.string().superRefine((c, ctx) => {
  const [addr, bits, extra] = c.split('/');
  const v = isIP(addr ?? '');
  const max = v === 6 ? 128 : 32;
  const ok = v !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
  if (!ok) ctx.addIssue({ code: 'custom', message: `not a CIDR: "${c}" (expected like 10.0.0.0/8, 127.0.0.2/32 or ::1/128)` });
  else {
    try {
      new BlockList().addSubnet(addr!, bits === undefined ? max : Number(bits), v === 6 ? 'ipv6' : 'ipv4');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `not a CIDR: ${(e as Error).message}` });
    }
  }
});

/** A port or an inclusive range `8000-8999`. */
export const Ports = z.union([
  z.number().int().min(0).max(65535),
  z.string().regex(/^\d{1,5}-\d{1,5}$/, 'expected a port or a range like 8000-8999').refine((r) => {
    const [a, b] = r.split('-').map(Number);
    return a! <= b! && b! <= 65535;
  }, 'expected a range low-high within 0-65535'),
]);

const Reason = {
  id: Name,
  /** Why the task needs this. */
  why: z.string().min(3, 'say why the task needs this'),
  /** The risk this allowance answers or accepts (a risk register id or a short name). */
  risk: z.string().min(1, 'name the risk (e.g. R-EXFIL-1)'),
};

export const Access = z.enum(['read', 'write', 'create']);

export const FileCap = z.strictObject({
  ...Reason,
  paths: z.array(Glob).min(1),
  /** read: O_RDONLY or O_RDWR; write: O_WRONLY, O_RDWR, O_TRUNC, O_APPEND; create: O_CREAT. */
  access: z.array(Access).min(1),
});
/** Written last in an argument form: any further arguments (none included). */
export const MORE_ARGS = '...';

/** One allowed argument list: a glob per argument after argv[0], `...` last for any further ones. */
export const ArgsForm = z.array(z.string()).superRefine((form, ctx) => {
  form.forEach((a, i) => {
    if (a === MORE_ARGS) {
      if (i !== form.length - 1) ctx.addIssue({ code: 'custom', path: [i], message: `"${MORE_ARGS}" (any further arguments) may only come last` });
      return;
    }
    try {
      picomatch.makeRe(a, { dot: true, strictBrackets: true });
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: [i], message: `not a valid glob: ${(e as Error).message}` });
    }
  });
});

export const ExecCap = z.strictObject({
  ...Reason,
  paths: z.array(Glob).min(1),
  /** SHA-256 of the executable; when given, only that binary may run. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits').optional(),
  /** The argument lists it may run with (argv after argv[0]), any one matching; absent: any arguments. */
  args: z.array(ArgsForm).min(1, 'list at least one argument form, or leave args out for any arguments').optional(),
});
const Destination = {
  /** Any family a send can leave by (correlate/egress.ts), or unix; netlink and alg reach only the kernel. */
  family: Family.exclude(['netlink', 'alg']).optional(),
  cidrs: z.array(Cidr).min(1).optional(),
  ports: z.array(Ports).min(1).optional(),
  unix_paths: z.array(Glob).min(1).optional(),
};
export const NetCap = z.strictObject({
  ...Reason,
  ops: z.array(z.enum(['connect', 'bind', 'send'])).min(1),
  ...Destination,
});
export const FlowCap = z.strictObject({
  ...Reason,
  /** Data classes (rules/data-classes.yaml) that may leave, or `*`. */
  classes: z.array(z.string().min(1)).min(1),
  to: z.strictObject(Destination),
});

export const Capabilities = z.strictObject({
  /** Named capability sets (`sets:`) whose capabilities this one also has. */
  include: z.array(Name).optional(),
  files: z.array(FileCap).optional(),
  exec: z.array(ExecCap).optional(),
  network: z.array(NetCap).optional(),
  flows: z.array(FlowCap).optional(),
});

export const Limits = z.strictObject({
  /** No transmit of any data within `within` of first reading data of `class`. */
  no_transmit_after: z.array(z.strictObject({ ...Reason, class: z.string().min(1), within: Duration })).optional(),
  /** At most `max` bytes sent to inet sockets per minute, per task. */
  bytes_out_per_minute: z.strictObject({ ...Reason, max: z.number().int().positive() }).optional(),
  /** Passing descriptors over unix sockets (SCM_RIGHTS): denied unless allowed. */
  fd_passing: z.enum(['allow', 'deny']).optional(),
});

export const Intent = Capabilities.extend({
  description: z.string().min(1),
  /** What a violation does: alert (a finding), or kill the process (only with --enforce; dry run says would-kill). */
  on_violation: z.enum(['alert', 'kill']).optional(),
  severity: z.enum(['low', 'medium', 'high', 'critical']).optional(),
  limits: Limits.optional(),
});

export const ManifestEntry = z
  .strictObject({
    /** A cgroup v2 path glob (below the cgroup mount), e.g. /sandboxes/summarize-*. */
    cgroup: Glob.optional(),
    /** A task name glob. */
    task: z.string().min(1).optional(),
    intent: Name,
  })
  .refine((m) => (m.cgroup === undefined) !== (m.task === undefined), 'give exactly one of cgroup or task');

export const PolicyFile = z.strictObject({
  version: z.literal(1),
  /** Other policy files (relative to this one) whose sets, intents and manifest entries are merged in. */
  include: z.array(z.string().min(1)).optional(),
  sets: z.record(Name, Capabilities).optional(),
  intents: z.record(Name, Intent).optional(),
  /** First match wins: which sandboxes have which intent. Tasks that match nothing are outside the policy. */
  manifest: z.array(ManifestEntry).optional(),
});
export type PolicyFile = z.infer<typeof PolicyFile>;
export type Intent = z.infer<typeof Intent>;
export type FileCap = z.infer<typeof FileCap>;
export type ExecCap = z.infer<typeof ExecCap>;
export type NetCap = z.infer<typeof NetCap>;
export type FlowCap = z.infer<typeof FlowCap>;
export type ManifestEntry = z.infer<typeof ManifestEntry>;

/** The policy actually enforced: includes merged and expanded, defaults filled, in a canonical order. */
export interface EffectiveIntent {
  description: string;
  on_violation: 'alert' | 'kill';
  severity: 'low' | 'medium' | 'high' | 'critical';
  files: FileCap[];
  exec: ExecCap[];
  network: NetCap[];
  flows: FlowCap[];
  limits: { no_transmit_after: { id: string; why: string; risk: string; class: string; within: number }[]; bytes_out_per_minute?: { id: string; why: string; risk: string; max: number }; fd_passing: 'allow' | 'deny' };
}
export interface EffectivePolicy {
  version: 1;
  intents: Record<string, EffectiveIntent>;
  manifest: ManifestEntry[];
}
