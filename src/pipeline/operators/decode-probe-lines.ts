import { Observable, type OperatorFunction } from 'rxjs';
import type { ProbeDecoder } from '../../decode/probe-decoder.js';
import type { Event } from '../../schema/event.js';
import type { ProbeLine } from '../../source/bpftrace-process.js';

/** bpftrace JSON lines → canonical events (malformed lines are counted by the decoder, never fatal). */
export function decodeProbeLines(decoder: ProbeDecoder): OperatorFunction<ProbeLine, Event> {
  return (source) =>
    new Observable<Event>((sub) => {
      const emit = (e: Event): void => sub.next(e);
      return source.subscribe({
        next: (l) => decoder.decodeLineTo(l.line, l.no, emit),
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      });
    });
}
