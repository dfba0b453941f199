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
      fc.property(fc.array(text, { maxLength: 60 }), fc.integer({ min: 8, max: 200 }), (lines, bufferBytes) => {
        const file = join(dir, `s${n++}.tsv`);
        const spool = new LineSpool(file, bufferBytes);
        for (const l of lines) spool.add(l);
        spool.close();
        expect(spool.lines).toBe(lines.length);
        expect(readFileSync(file).equals(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'))).toBe(true);
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
    spool.close();
    expect(readFileSync(file, 'utf8')).toBe(`a\n${long}\nb\n`);
  });
});
