import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { Correlator } from '../../correlate/correlator.js';
import type { Event } from '../../schema/event.js';
import type { Finding } from '../../schema/finding.js';

/**
 * Correlation in the pipeline: findings go to `onFinding`; events pass
 * through unchanged. `channelsGone` gives the channels the state saw lose
 * their last descriptor with the event just observed (dormant marks).
 */
export function correlateFlows(correlator: Correlator, onFinding: (f: Finding) => void, channelsGone?: () => readonly string[]): MonoTypeOperatorFunction<Event> {
  return tap({
    next: (ev) => {
      for (const f of correlator.observe(ev)) onFinding(f);
      if (channelsGone) for (const c of channelsGone()) correlator.channelGone(c);
    },
    complete: () => {
      for (const f of correlator.flush()) onFinding(f);
    },
  });
}
