import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonlWriter } from './jsonl-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'cw-jsonl-'));

describe('JsonlWriter, appending', () => {
  it('a last line torn by a crash is ended first: it stays one bad line, the lines written now stay whole', async () => {
    for (const durable of [true, false]) {
      const file = join(dir, `torn-${durable}.jsonl`);
      writeFileSync(file, '{"a":1}\n{"a":2,"b":"cut her');
      const w = new JsonlWriter(file, true, durable);
      expect(w.repairedTornLine).toBe(true);
      w.write({ a: 3 });
      await w.close();
      const lines = readFileSync(file, 'utf8').split('\n');
      expect(lines).toEqual(['{"a":1}', '{"a":2,"b":"cut her', '{"a":3}', '']);
    }
  });

  it('a whole file, an empty one and a missing one are appended to as they are', async () => {
    const whole = join(dir, 'whole.jsonl');
    writeFileSync(whole, '{"a":1}\n');
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    for (const [file, before] of [[whole, '{"a":1}\n'], [empty, ''], [join(dir, 'missing.jsonl'), '']] as const) {
      const w = new JsonlWriter(file, true, true);
      expect(w.repairedTornLine).toBe(false);
      w.write({ b: 2 });
      await w.close();
      expect(readFileSync(file, 'utf8')).toBe(`${before}{"b":2}\n`);
    }
  });
});
