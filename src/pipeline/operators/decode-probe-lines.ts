import { mergeMap, type OperatorFunction } from 'rxjs';
import type { ProbeDecoder } from '../../decode/probe-decoder.js';
import type { Event } from '../../schema/event.js';
import type { ProbeLine } from '../../source/bpftrace-process.js';

/** bpftrace JSON lines → canonical events (malformed lines are counted by the decoder, never fatal). */
export function decodeProbeLines(decoder: ProbeDecoder): OperatorFunction<ProbeLine, Event> {
  return mergeMap((l) => decoder.decodeLine(l.line, l.no));
}
