import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LineSpool } from './line-spool.js';

const dir = mkdtempSync(join(tmpdir(), 'cw-spool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LineSpool', () => {
  it('property: the file holds every line, in order, as UTF-8, whatever the buffer size and the text (astral characters, lone surrogates, lines longer than the buffer)', () => {
    // 'binary' code units include lone surrogates, which UTF-8 writes as U+FFFD, as Buffer.from does
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom('', '\u{1F600}', '\ud800', 'é'.repeat(30)));
    let n = 0;
    fc.assert(
      // each line whole, or as a head and bytes already encoded (addJoined)
      fc.property(fc.array(fc.tuple(text, fc.nat()), { maxLength: 60 }), fc.integer({ min: 8, max: 200 }), (parts, bufferBytes) => {
        const file = join(dir, `s${n++}.tsv`);
        const spool = new LineSpool(file, bufferBytes);
        const lines = parts.map(([l]) => l);
        for (const [l, cut] of parts) {
          if (cut % 3 === 0) spool.add(l);
          else {
            const at = cut % (l.length + 1);
            const tail = Buffer.from(`#${l.slice(at)}#`, 'utf8');
            spool.addJoined(l.slice(0, at), tail, 1, tail.length - 1);
          }
        }
        spool.close();
        expect(spool.lines).toBe(lines.length);
        const want = parts.map(([l, cut]) => (cut % 3 === 0 ? Buffer.from(`${l}\n`, 'utf8') : Buffer.concat([Buffer.from(l.slice(0, cut % (l.length + 1)), 'utf8'), Buffer.from(`${l.slice(cut % (l.length + 1))}\n`, 'utf8')])));
        expect(readFileSync(file).equals(Buffer.concat(want))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a line far longer than the buffer is written whole, between the lines around it', () => {
    const file = join(dir, 'long.tsv');
    const spool = new LineSpool(file, 64);
    const long = 'x'.repeat(10_000);
    spool.add('a');
    spool.add(long);
    spool.add('b');
    spool.addJoined('head', Buffer.from(long), 0, long.length);
    spool.close();
    expect(readFileSync(file, 'utf8')).toBe(`a\n${long}\nb\nhead${long}\n`);
  });
});
