import { arch, hostname, release } from 'node:os';
import { TRACE_FORMAT, TRACE_VERSION, type TraceHeader } from '../schema/trace-header.js';
import { VERSION } from '../util/version.js';

/**
 * The header of a run on this host, starting now: its monotonic epoch (the
 * clock of bpftrace's nsecs; event ts are relative to it) pinned to wall
 * time. Live sessions record it as the trace's first line; serve writes it
 * into the audit log's start record; agents send it to the host.
 */
export function runHeader(scope: TraceHeader['scope'], rest: Partial<Pick<TraceHeader, 'probes' | 'rendered_sha256' | 'policy_sha256' | 'rules'>> = {}): TraceHeader {
  const monoEpoch = process.hrtime.bigint();
  const wallEpoch = BigInt(Date.now()) * 1_000_000n;
  return {
    type: 'header',
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    host: hostname(),
    kernel: release(),
    arch: arch(),
    chainwatch_version: VERSION,
    start_time: new Date(Number(wallEpoch / 1_000_000n)).toISOString(),
    wall_epoch_ns: wallEpoch.toString(),
    mono_epoch_ns: monoEpoch.toString(),
    scope,
    probes: rest.probes ?? [],
    ...(rest.rendered_sha256 !== undefined && { rendered_sha256: rest.rendered_sha256 }),
    policy_sha256: rest.policy_sha256 ?? null,
    ...(rest.rules !== undefined && { rules: rest.rules }),
  };
}
