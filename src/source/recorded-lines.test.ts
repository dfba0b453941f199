import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event } from '../schema/event.js';
import { ev as make } from '../testing/events.js';
import { keepsLine, RecordedLine, RecordedLinesReader, RecordedLinesWriter } from './recorded-lines.js';

describe('recorded lines handed from the parse worker', () => {
  it('read back as each line’s UTF-8 bytes, in order, for the event they were written with; a line not kept clears the holder (fast-check)', () => {
    const entry = fc.option(fc.string({ unit: 'grapheme', maxLength: 300 }), { nil: undefined });
    fc.assert(
      fc.property(fc.array(fc.array(entry, { maxLength: 40 }), { minLength: 1, maxLength: 4 }), (batches) => {
        const w = new RecordedLinesWriter();
        const r = new RecordedLinesReader();
        const into = new RecordedLine();
        for (const lines of batches) {
          for (const l of lines) w.add(l);
          // through a structured clone, as postMessage hands it over
          r.feed(structuredClone(w.take()));
          for (const l of lines) {
            const ev = make.open(1, 3, '0:1:1', '/x') as Event;
            r.next(ev, into);
            if (l === undefined) expect(into.ev).toBeUndefined();
            else {
              expect(into.ev).toBe(ev);
              expect(into.bytes.subarray(into.start, into.end).toString('utf8')).toBe(l);
            }
          }
        }
      }),
    );
  });

  it('a batch bigger than the writer’s buffer is kept whole', () => {
    const w = new RecordedLinesWriter();
    const long = 'é'.repeat(700_000);
    w.add(long);
    w.add('short');
    const r = new RecordedLinesReader();
    r.feed(w.take());
    const into = new RecordedLine();
    const ev = make.open(1, 3, '0:1:1', '/x') as Event;
    r.next(ev, into);
    expect(into.bytes.subarray(into.start, into.end).toString('utf8')).toBe(long);
    r.next(ev, into);
    expect(into.bytes.subarray(into.start, into.end).toString('utf8')).toBe('short');
  });

  it('keeps a line only when it is exactly the event: parsed as it was, nothing the state attaches, no tab or carriage return', () => {
    const e = make.open(1, 3, '0:1:1', '/x') as Event;
    const line = JSON.stringify(e);
    expect(keepsLine(e, line, true)).toBe(true);
    expect(keepsLine(e, line, false)).toBe(false);
    expect(keepsLine(e, line.replace(',', ',\t'), true)).toBe(false);
    expect(keepsLine(e, `${line}\r`, true)).toBe(false);
    expect(keepsLine({ ...e, proc: { ppid: 1, comm: 'x', task: null, tree: 1 } } as Event, line, true)).toBe(false);
    expect(keepsLine({ ...e, res: {} } as Event, line, true)).toBe(false);
    expect(keepsLine({ ...e, abs: {} } as Event, line, true)).toBe(false);
  });
});
