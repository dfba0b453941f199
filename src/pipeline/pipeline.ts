import { identity, merge, pipe, tap, type MonoTypeOperatorFunction, type Observable, type OperatorFunction } from 'rxjs';
import type { Correlator } from '../correlate/correlator.js';
import type { ProbeDecoder } from '../decode/probe-decoder.js';
import type { Finding } from '../schema/finding.js';
import type { Event } from '../schema/event.js';
import type { SystemState } from '../state/system-state.js';
import { correlateFlows } from './operators/correlate-flows.js';
import type { ProbeOutputPart } from '../source/probe-output.js';
import { decodeProbeLines } from './operators/decode-probe-lines.js';
import { nameTasks, type TaskNamer } from './operators/name-tasks.js';
import { reorderByTime, type ReorderOptions } from './operators/reorder-by-time.js';
import { resolveState } from './operators/resolve-state.js';

/**
 * The one analysis pipeline, the same for live probes, replayed traces and
 * agent streams: canonical events in, resolved events out. Later stages
 * (flow, rules, policy, baselines) join here.
 */
export interface Correlation {
  correlator: Correlator;
  onFinding: (f: Finding) => void;
}

export function analyze(state: SystemState, correlation?: Correlation): OperatorFunction<Event, Event> {
  if (correlation === undefined) return pipe(resolveState(state));
  state.objects.collectGone = true;
  correlation.correlator.findings.lineage = (pid) => state.procs.lineage(pid);
  return pipe(resolveState(state), correlateFlows(correlation.correlator, correlation.onFinding, () => state.objects.takeGone()));
}

export interface LiveSourceOptions {
  decoder: ProbeDecoder;
  /** Kernel time (since the epoch) up to which every event has been delivered, and the longest hold without that proof. */
  reorder: ReorderOptions;
  namer: TaskNamer;
  /** Called when a cgroup is removed: the namer forgets it. */
  forgetCgroup?: (cgroupId: number) => void;
  /** Called with each canonical event before resolution (the trace recorder). */
  record?: (ev: Event) => void;
  /** Inserts what /proc says of sockets and pipes first met in use (operators/heal-from-proc.ts), as they arrive. */
  heal?: MonoTypeOperatorFunction<Event>;
}

/** Live front end: probe output (plus /proc snapshot events) → canonical, ordered, named events. */
export function liveEvents(output$: Observable<ProbeOutputPart[]>, snapshot$: Observable<Event>, o: LiveSourceOptions): Observable<Event> {
  return merge(output$.pipe(decodeProbeLines(o.decoder)), snapshot$).pipe(
    o.heal ?? identity,
    reorderByTime({ ...o.reorder, deferred: () => o.decoder.emittingDeferred }),
    // an exec's arguments, printed on the CPU execve started on, are all in once it is released
    tap((ev) => {
      if (ev.kind === 'process.exec') o.decoder.completeExec(ev);
    }),
    nameTasks(o.namer, o.forgetCgroup),
    tap((ev) => o.record?.(ev)),
  );
}

