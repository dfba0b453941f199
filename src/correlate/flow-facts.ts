import type { z } from 'zod';
import type { EventOf, ObjectView } from '../schema/event.js';
import type { FdReceivedFields, FdSentFields, FlowTransmitFields } from '../schema/rule-fields.js';
import type { Transmit } from './flow-tracker.js';
import type { RuleInput } from './sequence-matcher.js';

/**
 * A transmit as rules see it: `kind: flow.transmit` and flat fields to match
 * on (their schema, `FlowTransmitFields`, is what a rule may name), plus the
 * transmit itself for building the finding.
 */
export type FlowTransmitFact = z.infer<typeof FlowTransmitFields> & { transmit: Transmit };

export function transmitFact(t: Transmit): FlowTransmitFact {
  return {
    kind: 'flow.transmit',
    ts: t.ts,
    pid: t.pid,
    tid: t.tid,
    proc: t.proc,
    chain_key: t.key,
    data_class: t.taint.cls,
    source_path: t.taint.sourcePath,
    via_file: t.taint.viaFile,
    latency_ns: t.ts - t.taint.firstReadTs,
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
export type FdPassFact = z.infer<typeof FdSentFields> | z.infer<typeof FdReceivedFields>;

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
