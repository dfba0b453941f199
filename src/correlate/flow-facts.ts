import type { ProcView } from '../schema/event.js';
import type { Transmit } from './flow-tracker.js';
import type { RuleInput } from './sequence-matcher.js';

/** A transmit as rules see it: `kind: flow.transmit` and flat fields to match on. */
export interface FlowTransmitFact extends RuleInput {
  kind: 'flow.transmit';
  tid: number;
  proc: ProcView | undefined;
  chain_key: string;
  data_class: string;
  source_path: string;
  via_file: boolean;
  latency_ns: number;
  hops: number;
  processes: number;
  bytes: number;
  sink_family: string | undefined;
  sink_address: string | undefined;
  sink_port: number | undefined;
  /** The transmit itself, for building the finding. */
  transmit: Transmit;
}

export function transmitFact(t: Transmit): FlowTransmitFact {
  return {
    kind: 'flow.transmit',
    ts: t.ev.ts,
    pid: t.ev.pid,
    tid: t.ev.tid,
    proc: t.ev.proc,
    chain_key: t.key,
    data_class: t.taint.cls,
    source_path: t.taint.sourcePath,
    via_file: t.taint.viaFile,
    latency_ns: t.ev.ts - t.taint.firstReadTs,
    hops: t.taint.hops.length,
    processes: new Set(t.taint.hops.map((h) => h.pid)).size,
    bytes: t.bytes,
    sink_family: t.sink.family,
    sink_address: t.sink.peer?.addr,
    sink_port: t.sink.peer?.port,
    transmit: t,
  };
}

export function isTransmitFact(x: RuleInput): x is FlowTransmitFact {
  return x.kind === 'flow.transmit';
}
