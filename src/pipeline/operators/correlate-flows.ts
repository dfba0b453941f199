import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { FindingBuilder } from '../../correlate/finding-builder.js';
import { fdPassFacts, transmitFact } from '../../correlate/flow-facts.js';
import type { FlowTracker } from '../../correlate/flow-tracker.js';
import type { SequenceMatcher } from '../../correlate/sequence-matcher.js';
import type { Event } from '../../schema/event.js';
import type { Finding } from '../../schema/finding.js';

/**
 * Correlation: each resolved event feeds the flow tracker; the event and the
 * flow facts it produced (`flow.transmit`) feed the chain rules; rule
 * matches become findings, handed to `onFinding` (new chains at once,
 * updated counters when the stream ends). Events pass through unchanged.
 */
export function correlateFlows(flow: FlowTracker, rules: SequenceMatcher, builder: FindingBuilder, onFinding: (f: Finding) => void): MonoTypeOperatorFunction<Event> {
  return tap({
    next: (ev) => {
      builder.noteLoss(ev);
      const emit = (inputs: Parameters<SequenceMatcher['observe']>[0]): void => {
        const matches = rules.observe(inputs);
        if (matches.length > 0) for (const f of builder.onMatches(matches)) onFinding(f);
      };
      emit(ev);
      for (const t of flow.observe(ev)) emit(transmitFact(t));
      if (ev.kind === 'fd.rights') for (const fact of fdPassFacts(ev, (v) => flow.sensitivityOf(v))) emit(fact);
    },
    complete: () => {
      // sequences still waiting on an `absent` step when the stream ends are complete
      for (const f of builder.onMatches(rules.flush())) onFinding(f);
      for (const f of builder.flush()) onFinding(f);
    },
  });
}

/**
 * Advances the chain rules' clock outside the event stream (live: the
 * probe's TICKs), so an `absent` window on a quiet task still ends. `ts` must
 * be a time every event before which has already passed `correlateFlows`.
 */
export function advanceRuleClock(rules: SequenceMatcher, builder: FindingBuilder, ts: number, onFinding: (f: Finding) => void): void {
  const matches = rules.tick(ts);
  if (matches.length > 0) for (const f of builder.onMatches(matches)) onFinding(f);
}
