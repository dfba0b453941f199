import type { Event } from '../schema/event.js';

/**
 * Events the probe held back by design: a first read kept until the
 * process' next record, or folded with the descriptor's close (IOD and RDCL
 * records, probes/chainwatch.bt "Deferred first reads"). They carry their
 * own kernel times and keep their order within their process, but may reach
 * user space after later records of other processes, so the reorder stage
 * counts them apart from ordering faults. Marked beside the event, not in
 * it: this is how the event travelled, not what happened.
 */
const deferred = new WeakSet<Event>();

export function markDeferred<E extends Event>(ev: E): E {
  deferred.add(ev);
  return ev;
}

export function isDeferred(ev: Event): boolean {
  return deferred.has(ev);
}
