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
  /**
   * Reads the probe held back by design and delivered late (see
   * ProbeDecoder.emittingDeferred): expected, not an ordering fault. They
   * keep their order within their process.
   */
  lateDeferred: number;
  /** The first late events (kind, time, how far behind the released time, pid). */
  lateSamples: { kind: string; ts: number; behindNs: number; pid: number }[];
  maxBuffered: number;
}

export interface ReorderOptions {
  /**
   * Kernel time up to which the source has proven delivery (see
   * source/delivery-proof): events at or before it are released in order.
   */
  watermark: () => number;
  /**
   * The longest an event waits for that proof, measured against the newest
   * kernel timestamp seen: a cap on memory and latency if proofs stop
   * (an event that then arrives behind the released ones is counted late).
   */
  maxHoldNs: number;
  stats: ReorderStats;
  /** Called after each release with the time up to which everything has been passed on (the rule clock). */
  onReleased?: (upTo: number) => void;
  /** True while the arriving event is one the probe held back by design (the decoder's flag, read synchronously on arrival). */
  deferred?: () => boolean;
  /**
   * Hands the stage a wake-up for the source to call when `watermark` may
   * have advanced (live: on each TICK). The stage releases on the next turn
   * of the event loop, so the rule clock (`onReleased`) moves on a quiet
   * host too, where no timer runs.
   */
  onWake?: (wake: () => void) => void;
  /** How often held events are checked against the watermark; the timer runs only while events are held. */
  tickMs?: number;
}

/**
 * bpftrace reads one perf buffer per CPU, so records reach us out of time
 * order. This holds events and releases them in timestamp order (stable for
 * equal timestamps) once the source has proven that nothing earlier can
 * still arrive (`watermark`), or once they have waited `maxHoldNs`. Late
 * events are passed on at once and counted, never dropped. Completing the
 * source releases everything.
 */
export function reorderByTime(o: ReorderOptions): OperatorFunction<Event, Event> {
  const { stats } = o;
  return (source) =>
    new Observable<Event>((sub) => {
      // held events are held[head..], in timestamp order; released ones before head are cleared and dropped in bulk.
      // Arrivals since the last release wait in `incoming` and are sorted and merged in once per release, so a held
      // event is sorted once, not on every tick it waits (bpftrace's per-CPU buffers interleave: nearly every tick is unsorted)
      let held: (Event | undefined)[] = [];
      let head = 0;
      let incoming: Event[] = [];
      let incomingSorted = true;
      let released = -1;
      let newest = -1;
      let advanced = -1;
      const byTs = (a: Event, b: Event): number => a.ts - b.ts;
      const admit = (): void => {
        if (incoming.length === 0) return;
        // Array.prototype.sort is stable: equal timestamps keep arrival order
        if (!incomingSorted) incoming.sort(byTs);
        if (head === held.length) {
          held = incoming;
          head = 0;
        } else if (held[held.length - 1]!.ts <= incoming[0]!.ts) {
          for (let i = 0; i < incoming.length; i++) held.push(incoming[i]);
        } else {
          // merge; on equal timestamps the held event (the earlier arrival) goes first
          const merged: Event[] = new Array<Event>(held.length - head + incoming.length);
          let i = head;
          let j = 0;
          let k = 0;
          while (i < held.length && j < incoming.length) merged[k++] = held[i]!.ts <= incoming[j]!.ts ? held[i++]! : incoming[j++]!;
          while (i < held.length) merged[k++] = held[i++]!;
          while (j < incoming.length) merged[k++] = incoming[j++]!;
          held = merged;
          head = 0;
        }
        incoming = [];
        incomingSorted = true;
      };
      const release = (upTo: number): void => {
        admit();
        while (head < held.length && held[head]!.ts <= upTo) {
          const ev = held[head]!;
          held[head++] = undefined;
          if (ev.ts > released) released = ev.ts;
          sub.next(ev);
        }
        if (head === held.length) {
          held = [];
          head = 0;
        } else if (head >= 4096 && head * 2 >= held.length) {
          held = held.slice(head);
          head = 0;
        }
        if (upTo > advanced && Number.isFinite(upTo)) {
          advanced = upTo;
          o.onReleased?.(upTo);
        }
      };
      const releaseDue = (): void => release(Math.max(newest - o.maxHoldNs, o.watermark()));
      // the check timer runs only while events are held: a quiet host costs no wake-ups here
      let timer: ReturnType<typeof setInterval> | undefined;
      const holding = (): void => {
        timer ??= setInterval(() => {
          releaseDue();
          if (head === held.length && incoming.length === 0) stopTimer();
        }, o.tickMs ?? 2);
      };
      const stopTimer = (): void => {
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
      };
      let wakePending: ReturnType<typeof setImmediate> | undefined;
      o.onWake?.(() => {
        wakePending ??= setImmediate(() => {
          wakePending = undefined;
          releaseDue();
        });
      });
      const quiet = (): void => {
        stopTimer();
        if (wakePending !== undefined) clearImmediate(wakePending);
        wakePending = undefined;
      };
      const inner = source.subscribe({
        next(ev) {
          if (ev.ts < released) {
            if (isRunSummary(ev)) stats.lateSummaries++;
            else if (o.deferred?.() === true) stats.lateDeferred++;
            else {
              stats.late++;
              // what arrived late, and by how much: the evidence for fixing the ordering, never silent
              if (stats.lateSamples.length < 10) stats.lateSamples.push({ kind: ev.kind, ts: ev.ts, behindNs: released - ev.ts, pid: ev.pid });
            }
            sub.next(ev);
            return;
          }
          if (ev.ts > newest) newest = ev.ts;
          if (incomingSorted && incoming.length > 0 && ev.ts < incoming[incoming.length - 1]!.ts) incomingSorted = false;
          incoming.push(ev);
          holding();
          const buffered = held.length - head + incoming.length;
          if (buffered > stats.maxBuffered) stats.maxBuffered = buffered;
        },
        error(e) {
          quiet();
          release(Number.POSITIVE_INFINITY);
          sub.error(e);
        },
        complete() {
          quiet();
          release(Number.POSITIVE_INFINITY);
          sub.complete();
        },
      });
      return () => {
        quiet();
        inner.unsubscribe();
      };
    });
}

/** A probe RUN summary: I/O with no kernel object (first calls always carry one). */
function isRunSummary(ev: Event): boolean {
  return (ev.kind === 'io' && ev.obj === null) || (ev.kind === 'io.xfer' && ev.obj_in === null && ev.obj_out === null);
}
