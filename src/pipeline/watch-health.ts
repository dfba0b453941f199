import type { Correlator } from '../correlate/correlator.js';

/** How often an always-on watch says how it is doing. */
export const HEALTH_EVERY_MS = 60_000;

export type HealthReport = (level: 'info' | 'warn', fields: Record<string, unknown>, msg: string) => void;

/**
 * For a watch that runs for weeks: once a minute, a warning when the flow
 * tracker had to drop live marks or leave shared mappings unfollowed, or chains were closed to stay within
 * their bounds (both blind spots, never silent: the end-of-run summary
 * would come too late); every ten minutes a line of counters. Returns the
 * timer, for clearInterval at the end of the run.
 */
export function watchHealth(correlator: Correlator, counters: () => Record<string, number>, report: HealthReport): ReturnType<typeof setInterval> {
  let evicted = 0;
  let unlinked = 0;
  let closed = 0;
  let minutes = 0;
  const t = setInterval(() => {
    const flow = correlator.flow.stats();
    const chains = correlator.findings.stats();
    if (flow.marksEvicted > evicted) {
      report('warn', { marks_evicted: flow.marksEvicted - evicted, total: flow.marksEvicted, marks: flow.marks }, 'flow marks dropped at their bound: data the tracker no longer follows');
    }
    if (flow.mappingsOverBound > unlinked) {
      report('warn', { mappings_not_followed: flow.mappingsOverBound - unlinked, total: flow.mappingsOverBound, followed: flow.sharedMappings }, 'shared mappings not followed: their process has as many as the flow tracker keeps');
    }
    if (chains.closed > closed) {
      report('warn', { chains_closed: chains.closed - closed, total: chains.closed, open: chains.open }, 'chains closed at their bound: a later send starts a fresh report of the same finding id');
    }
    evicted = flow.marksEvicted;
    unlinked = flow.mappingsOverBound;
    closed = chains.closed;
    if (++minutes % 10 === 0) report('info', { ...counters(), flow, chains, tasks: correlator.tasksKept }, 'watching');
  }, HEALTH_EVERY_MS);
  t.unref();
  return t;
}
