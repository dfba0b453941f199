import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { FindingBuilder } from '../../correlate/finding-builder.js';
import type { FlowTracker } from '../../correlate/flow-tracker.js';
import type { Event } from '../../schema/event.js';
import type { Finding } from '../../schema/finding.js';

/**
 * Correlation: resolved events feed the flow tracker; transmits become
 * findings, handed to `onFinding` (new chains at once, updated counters when
 * the stream ends). Events pass through unchanged.
 */
export function correlateFlows(flow: FlowTracker, builder: FindingBuilder, onFinding: (f: Finding) => void): MonoTypeOperatorFunction<Event> {
  return tap({
    next: (ev) => {
      builder.noteLoss(ev);
      const tx = flow.observe(ev);
      if (tx.length > 0) for (const f of builder.onTransmits(tx)) onFinding(f);
    },
    complete: () => {
      for (const f of builder.flush()) onFinding(f);
    },
  });
}
