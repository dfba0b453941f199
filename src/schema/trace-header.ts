import { z } from 'zod';

export const TRACE_FORMAT = 'chainwatch-trace';
export const TRACE_VERSION = 1;

export const ProbeDigest = z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
/** A file and the SHA-256 of its bytes as read. */
export const FileDigest = ProbeDigest;
export type FileDigest = z.infer<typeof FileDigest>;

/**
 * First line of every trace file (JSON Lines). Makes a recording
 * self-describing: where and when it was taken, with which probes, which
 * watch scope and (later) which policy.
 */
export const TraceHeader = z.object({
  type: z.literal('header'),
  format: z.literal(TRACE_FORMAT),
  version: z.literal(TRACE_VERSION),
  host: z.string(),
  kernel: z.string(),
  arch: z.string(),
  chainwatch_version: z.string(),
  /** Wall-clock time of the epoch, ISO 8601. */
  start_time: z.string(),
  /** Wall-clock ns since 1970 at the epoch (a decimal string: exceeds 2^53). */
  wall_epoch_ns: z.string().regex(/^\d+$/),
  /** Kernel monotonic ns at the epoch (a decimal string); event ts are relative to it. */
  mono_epoch_ns: z.string().regex(/^\d+$/),
  scope: z.object({
    mode: z.enum(['host', 'cgroup', 'pid', 'command', 'replay', 'import', 'serve']),
    cgroup: z.string().optional(),
    pid: z.number().int().optional(),
    command: z.array(z.string()).optional(),
  }),
  probes: z.array(ProbeDigest),
  /** SHA-256 of the exact script bpftrace ran (probe files after rendering). */
  rendered_sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  policy_sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  /** The detection rules in force when the trace was recorded: data-classes.yaml and chains.yaml, as read (older traces lack it). */
  rules: z.array(FileDigest).optional(),
  /** A trace made from someone else's recording (sysdig .scap, sysdig text, LID-DS). */
  imported_from: z
    .object({
      format: z.enum(['sysdig-scap', 'sysdig-text', 'lid-ds']),
      file: z.string(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      /** The recording's own labels as shipped (LID-DS: the .json file). */
      labels: z.unknown().optional(),
    })
    .optional(),
  /** A segment of a rotated recording: the run it belongs to, its place in it, and how many events after the header are the state it starts with (a replay continuing from the previous segment skips them). */
  segment: z.object({ run: z.string().min(1), index: z.number().int().nonnegative(), snapshot_events: z.number().int().nonnegative() }).optional(),
  /** Points in time the recording's labels name (LID-DS exploit start), in the trace's ts. */
  annotations: z.array(z.object({ ts: z.number().int(), label: z.string(), source: z.string().optional() })).optional(),
});
export type TraceHeader = z.infer<typeof TraceHeader>;
