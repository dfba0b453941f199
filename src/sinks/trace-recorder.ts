import type { Event } from '../schema/event.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { JsonlWriter } from './jsonl-writer.js';

/**
 * Writes a trace: the header line, then one canonical event per line, as
 * they were before resolution (the state stage re-derives resolution on
 * replay). Lines are whole or absent: a crash leaves a readable prefix.
 */
export class TraceRecorder {
  private readonly w: JsonlWriter;

  constructor(target: string, header: TraceHeader) {
    this.w = new JsonlWriter(target);
    this.w.write(header);
  }

  record(ev: Event): void {
    this.w.write(ev);
  }

  get events(): number {
    return this.w.written - 1;
  }

  close(): Promise<void> {
    return this.w.close();
  }
}
