import { Observable, type OperatorFunction } from 'rxjs';
import type { ProbeDecoder } from '../../decode/probe-decoder.js';
import type { Event } from '../../schema/event.js';
import type { ProbeOutputPart } from '../../source/probe-output.js';
import { OpenPathResolver } from '../../source/real-path.js';

/**
 * bpftrace's output (runs of whole JSON lines and of binary record frames, as read) → canonical events (malformed lines are counted by the
 * decoder, never fatal). Successful opens get their `real_path` here, while
 * the process and the file are most likely still there (OpenPathResolver).
 */
export function decodeProbeLines(decoder: ProbeDecoder): OperatorFunction<ProbeOutputPart[], Event> {
  return (source) =>
    new Observable<Event>((sub) => {
      const paths = new OpenPathResolver();
      const emit = (e: Event): void => {
        paths.observe(e);
        sub.next(e);
      };
      return source.subscribe({
        next: (parts) => {
          for (const p of parts) {
            if (typeof p === 'string') decoder.decodeText(p, emit);
            else decoder.decodeFrames(p, emit);
          }
        },
        error: (e: unknown) => sub.error(e),
        complete: () => sub.complete(),
      });
    });
}
