import { Observable, type OperatorFunction } from 'rxjs';
import type { Event } from '../../schema/event.js';

export interface ReorderStats {
  /** Events that arrived after a later event had already been released. */
  late: number;
  /**
   * I/O run summaries that arrived late: expected, not an ordering fault.
   * A summary carries the time of its last summed call but is printed when
   * the run is flushed (on close, exit or shutdown), just before the record
   * that flushed it, and it only adds byte counts.
   */
  lateSummaries: number;
  maxBuffered: number;
}

/**
 * bpftrace reads one perf buffer per CPU, so a thread that migrates between
 * CPUs can have its records printed out of order. This holds events and
 * releases them in timestamp order (stable for equal timestamps) once they
 * are `windowNs` older than the newest kernel timestamp seen, or no newer
 * than `watermark()`: the kernel time up to which the source has proven
 * delivery (the probe's 10 ms TICK records, less a margin), so a quiet
 * stream is released within ~15 ms without guessing from the wall clock.
 * Late events are passed on at once and counted, never dropped. Completing
 * the source releases everything.
 */
export function reorderByTime(
  windowNs: number,
  watermark: () => number,
  stats: ReorderStats,
  tickMs = 2,
): OperatorFunction<Event, Event> {
  return (source) =>
    new Observable<Event>((sub) => {
      let buf: Event[] = [];
      let sorted = true;
      let released = -1;
      let newest = -1;
      const release = (upTo: number): void => {
        if (buf.length === 0) return;
        if (!sorted) {
          // Array.prototype.sort is stable: equal timestamps keep arrival order
          buf.sort((a, b) => a.ts - b.ts);
          sorted = true;
        }
        let i = 0;
        while (i < buf.length && buf[i]!.ts <= upTo) i++;
        if (i === 0) return;
        const out = buf.slice(0, i);
        buf = buf.slice(i);
        for (const ev of out) {
          if (ev.ts > released) released = ev.ts;
          sub.next(ev);
        }
      };
      const timer = setInterval(() => release(Math.max(newest - windowNs, watermark())), tickMs);
      const inner = source.subscribe({
        next(ev) {
          if (ev.ts < released) {
            if (isRunSummary(ev)) stats.lateSummaries++;
            else stats.late++;
            sub.next(ev);
            return;
          }
          if (ev.ts > newest) newest = ev.ts;
          const last = buf[buf.length - 1];
          if (last !== undefined && ev.ts < last.ts) sorted = false;
          buf.push(ev);
          if (buf.length > stats.maxBuffered) stats.maxBuffered = buf.length;
        },
        error(e) {
          clearInterval(timer);
          release(Number.POSITIVE_INFINITY);
          sub.error(e);
        },
        complete() {
          clearInterval(timer);
          release(Number.POSITIVE_INFINITY);
          sub.complete();
        },
      });
      return () => {
        clearInterval(timer);
        inner.unsubscribe();
      };
    });
}

/** A probe RUN summary: I/O with no kernel object (first calls always carry one). */
function isRunSummary(ev: Event): boolean {
  return (ev.kind === 'io' && ev.obj === null) || (ev.kind === 'io.xfer' && ev.obj_in === null && ev.obj_out === null);
}
