import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { Correlator } from '../../correlate/correlator.js';
import type { Event } from '../../schema/event.js';
import type { Finding } from '../../schema/finding.js';

/** Correlation in the pipeline: findings go to `onFinding`; events pass through unchanged. */
export function correlateFlows(correlator: Correlator, onFinding: (f: Finding) => void): MonoTypeOperatorFunction<Event> {
  return tap({
    next: (ev) => {
      for (const f of correlator.observe(ev)) onFinding(f);
    },
    complete: () => {
      for (const f of correlator.flush()) onFinding(f);
    },
  });
}
