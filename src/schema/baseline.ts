import { z } from 'zod';

/**
 * A learned behaviour baseline for one task intent (docs/baselines.md):
 * versioned, human-readable JSON, made only by `chainwatch baseline learn`
 * from recorded benign runs, whose traces' digests it names.
 */
export const BASELINE_FORMAT = 'chainwatch-baseline';
export const BASELINE_VERSION = 1;

/** Quantiles of one numeric feature over the learning runs. */
export const Distribution = z.object({
  n: z.number().int().nonnegative(),
  min: z.number(),
  p1: z.number(),
  p5: z.number(),
  p25: z.number(),
  p50: z.number(),
  p75: z.number(),
  p95: z.number(),
  p99: z.number(),
  max: z.number(),
});
export type Distribution = z.infer<typeof Distribution>;

export const NUMERIC_FEATURES = ['read_to_transmit_ms', 'bytes_out_per_byte_in', 'bytes_out_per_min', 'sends_per_min', 'chain_hops', 'send_gap_ms'] as const;
export type NumericFeature = (typeof NUMERIC_FEATURES)[number];

export const FEATURE_TEXT: Record<NumericFeature, { what: string; unit: string }> = {
  read_to_transmit_ms: { what: 'read-to-transmit latency', unit: 'ms' },
  bytes_out_per_byte_in: { what: 'bytes sent per byte read', unit: '' },
  bytes_out_per_min: { what: 'bytes sent per minute', unit: 'B' },
  sends_per_min: { what: 'network sends per minute', unit: '' },
  chain_hops: { what: 'hops of a read-then-transmit chain', unit: '' },
  send_gap_ms: { what: 'time between network sends', unit: 'ms' },
};

export const Baseline = z.strictObject({
  format: z.literal(BASELINE_FORMAT),
  version: z.literal(BASELINE_VERSION),
  intent: z.string().min(1),
  learned_at: z.string(),
  chainwatch_version: z.string(),
  /** What it was learned from: each trace's SHA-256 and the tasks (runs) taken from it. */
  traces: z.array(z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), tasks: z.array(z.string()) })),
  runs: z.number().int().nonnegative(),
  features: z.partialRecord(z.enum(NUMERIC_FEATURES), Distribution),
  sets: z.object({
    executables: z.array(z.string()),
    destinations: z.array(z.string()),
    data_classes: z.array(z.string()),
  }),
  /** Transitions between canonical event kinds, per process role (executable name): counts over the learning runs. */
  transitions: z.record(z.string(), z.record(z.string(), z.number().int().positive())),
});
export type Baseline = z.infer<typeof Baseline>;
