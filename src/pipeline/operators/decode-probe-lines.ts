import { Observable, type OperatorFunction } from 'rxjs';
import type { ProbeDecoder } from '../../decode/probe-decoder.js';
import type { Event } from '../../schema/event.js';
import { OpenPathResolver } from '../../source/real-path.js';

/**
 * bpftrace JSON lines (runs of whole lines, as read) → canonical events (malformed lines are counted by the
 * decoder, never fatal). Successful opens get their `real_path` here, while
 * the process and the file are most likely still there (OpenPathResolver).
 */
export function decodeProbeLines(decoder: ProbeDecoder): OperatorFunction<string, Event> {
  return (source) =>
    new Observable<Event>((sub) => {
      const paths = new OpenPathResolver();
      const emit = (e: Event): void => {
        paths.observe(e);
        sub.next(e);
      };
      return source.subscribe({
        next: (text) => decoder.decodeText(text, emit),
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      });
    });
}
