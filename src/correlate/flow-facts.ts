import type { EventOf, ObjectView, ProcView } from '../schema/event.js';
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

/**
 * Descriptor passing as rules see it: `flow.fd_sent` when a descriptor of a
 * sensitive object leaves a process over SCM_RIGHTS, `flow.fd_received` when
 * a watched process receives one. Both are keyed by task and object, so a
 * send with no receive in the same task is a descriptor leaving the task.
 */
export interface FdPassFact extends RuleInput {
  kind: 'flow.fd_sent' | 'flow.fd_received';
  tid: number;
  proc: ProcView | undefined;
  chain_key: string;
  data_class: string | undefined;
  source_path: string | undefined;
  event: EventOf<'fd.rights'>;
}

export function fdPassFacts(ev: EventOf<'fd.rights'>, sensitivityOf: (v: ObjectView) => { cls: string; sourcePath: string }[]): FdPassFact[] {
  const v = ev.res?.fd;
  if (v === undefined) return [];
  const base = { ts: ev.ts, pid: ev.pid, tid: ev.tid, proc: ev.proc, chain_key: `rights|${ev.proc?.task ?? ''}|${v.id}`, event: ev };
  if (ev.dir === 'recv') return [{ ...base, kind: 'flow.fd_received', data_class: undefined, source_path: undefined }];
  return sensitivityOf(v).map((s) => ({ ...base, kind: 'flow.fd_sent' as const, data_class: s.cls, source_path: s.sourcePath }));
}

export function isFdSentFact(x: RuleInput): x is FdPassFact {
  return x.kind === 'flow.fd_sent';
}
