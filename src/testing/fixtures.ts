import { BASELINE_FORMAT, BASELINE_VERSION, type Baseline } from '../schema/baseline.js';
import { TRACE_FORMAT, TRACE_VERSION, type TraceHeader } from '../schema/trace-header.js';

/** A trace header for tests: a watched command on host `test`. */
export function testHeader(scope: TraceHeader['scope'] = { mode: 'command', command: ['true'] }): TraceHeader {
  return {
    type: 'header',
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    host: 'test',
    kernel: '6.0',
    arch: 'x64',
    chainwatch_version: '0.1.0',
    start_time: '2026-11-21T00:00:00.000Z',
    wall_epoch_ns: '1795380435102000000',
    mono_epoch_ns: '1000',
    scope,
    probes: [],
    policy_sha256: null,
  };
}

/**
 * A baseline of the shipped policy's summarize-document intent: a summary is
 * smaller than what was read, so sending 50 bytes per byte read deviates.
 */
export const SUMMARIZE_BASELINE: Baseline = {
  format: BASELINE_FORMAT,
  version: BASELINE_VERSION,
  intent: 'summarize-document',
  learned_at: '2026-11-22T00:00:00.000Z',
  chainwatch_version: '0.1.0',
  traces: [],
  runs: 10,
  features: { bytes_out_per_byte_in: { n: 10, min: 0.01, p1: 0.01, p5: 0.02, p25: 0.05, p50: 0.1, p75: 0.2, p95: 0.3, p99: 0.4, max: 0.5 } },
  sets: { executables: [], destinations: ['127.0.0.2:8443'], data_classes: [] },
  transitions: {},
};
