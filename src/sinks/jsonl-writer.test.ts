import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SmallDisk } from '../testing/small-disk.js';
import { JsonlWriter } from './jsonl-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'cw-jsonl-'));

describe('JsonlWriter, appending', () => {
  it('a last line torn by a crash is ended first: it stays one bad line, the lines written now stay whole', async () => {
    for (const durable of [true, false]) {
      const file = join(dir, `torn-${durable}.jsonl`);
      writeFileSync(file, '{"a":1}\n{"a":2,"b":"cut her');
      const w = new JsonlWriter(file, { append: true, durable });
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
      const w = new JsonlWriter(file, { append: true, durable: true });
      expect(w.repairedTornLine).toBe(false);
      w.write({ b: 2 });
      await w.close();
      expect(readFileSync(file, 'utf8')).toBe(`${before}{"b":2}\n`);
    }
  });
});

describe('JsonlWriter on a full disk (a real tmpfs filled up)', () => {
  const disk = new SmallDisk(256 * 1024);
  afterAll(() => disk.unmount());
  // lines of up to 3 KB, free space up to 16 KB: most runs run out of space part-way (counted below)
  const linesArb = fc.array(fc.record({ n: fc.nat(), pad: fc.nat({ max: 3000 }).map((k) => 'é'.repeat(k >> 1)) }), { minLength: 1, maxLength: 120, size: 'max' });
  const leftArb = fc.integer({ min: 0, max: 16 * 1024 });

  let refused = 0;
  it('streamed: never throws, the file holds whole lines only, a prefix of what was written, and the rest is counted', async () => {
    await fc.assert(
      fc.asyncProperty(linesArb, leftArb, async (objs, left) => {
        const file = join(disk.dir, 'streamed.jsonl');
        rmSync(file, { force: true });
        disk.fill(left);
        const fails: string[] = [];
        const w = new JsonlWriter(file, { onFail: (f) => fails.push(f) });
        for (const o of objs) w.write(o);
        await w.close();
        disk.free();
        const lines = objs.map((o) => `${JSON.stringify(o)}\n`);
        const kept = objs.length - w.unwritten;
        expect(readFileSync(file, 'utf8')).toBe(lines.slice(0, kept).join(''));
        expect(w.failed === undefined).toBe(w.unwritten === 0);
        expect(fails).toEqual(w.failed === undefined ? [] : [file]);
        if (Buffer.byteLength(lines.join('')) > left + 4096) expect(w.unwritten).toBeGreaterThan(0);
        if (w.failed !== undefined) refused++;
      }),
      { numRuns: 30 },
    );
    expect(refused).toBeGreaterThan(5);
  });

  let refusedDurable = 0;
  it('durable: a flush the disk refuses returns false and keeps the lines; once there is space, the next flush writes each exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(linesArb, leftArb, fc.double({ min: 0, max: 0.5, noNaN: true }), async (objs, left, frac) => {
        const file = join(disk.dir, 'durable.jsonl');
        rmSync(file, { force: true });
        const w = new JsonlWriter(file, { append: true, durable: true });
        const cut = Math.floor(frac * objs.length);
        for (const o of objs.slice(0, cut)) w.write(o);
        expect(w.flush()).toBe(true);
        disk.fill(left);
        for (const o of objs.slice(cut)) w.write(o);
        const ok = w.flush();
        const lines = objs.map((o) => `${JSON.stringify(o)}\n`);
        // whatever the refusal left: whole lines, a prefix
        const partial = readFileSync(file, 'utf8');
        expect(lines.join('').startsWith(partial)).toBe(true);
        expect(partial === '' || partial.endsWith('\n')).toBe(true);
        expect(w.unwritten).toBe(objs.length - (partial.match(/\n/g)?.length ?? 0));
        expect(ok).toBe(w.unwritten === 0);
        // the existing last page may hold up to 4 KB more than `left`
        if (Buffer.byteLength(lines.slice(cut).join('')) > left + 4096) expect(ok).toBe(false);
        if (!ok) refusedDurable++;
        disk.free();
        expect(w.flush()).toBe(true);
        expect(w.failed).toBeUndefined();
        await w.close();
        expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
      }),
      { numRuns: 30 },
    );
    expect(refusedDurable).toBeGreaterThan(5);
  });
});

describe('JsonlWriter rotating (--events-rotate)', () => {
  for (const durable of [false, true]) {
    it(`${durable ? 'durable' : 'streamed'}: files of about the size asked, whole lines each, in order across them; the oldest beyond keep removed; numbers go on after a restart`, async () => {
      const d = mkdtempSync(join(tmpdir(), 'cw-jsonl-rot-'));
      const file = join(d, 'events.jsonl');
      const all: string[] = [];
      const run = async (n: number, keep?: number): Promise<JsonlWriter> => {
        const w = new JsonlWriter(file, { append: true, durable, rotate: { bytes: 100_000, ...(keep !== undefined && { keep }) } });
        for (let i = 0; i < n; i++) {
          const o = { i: all.length, pad: 'x'.repeat(i % 700) };
          all.push(`${JSON.stringify(o)}\n`);
          w.write(o);
          if (i % 500 === 499) {
            if (durable) expect(w.flush()).toBe(true);
            await new Promise((r) => setImmediate(r));
          }
        }
        await w.close();
        return w;
      };
      const first = await run(3000);
      expect(first.rotations).toBeGreaterThanOrEqual(8);
      const files = (): string[] => {
        const numbered = readdirSync(d).filter((f) => /^events\.\d+\.jsonl$/.test(f)).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
        return [...numbered, 'events.jsonl'].map((f) => join(d, f));
      };
      const texts = files().map((f) => readFileSync(f, 'utf8'));
      expect(texts.join('')).toBe(all.join(''));
      for (const t of texts.slice(0, -1)) {
        expect(t.endsWith('\n')).toBe(true);
        expect(Buffer.byteLength(t)).toBeGreaterThanOrEqual(100_000);
        expect(Buffer.byteLength(t)).toBeLessThan(100_000 + (1 << 16) + 800);
      }
      // a restart appends to the newest and numbers on; keep 3 removes this run's oldest beyond three
      const before = files().length;
      const second = await run(3000, 3);
      expect(second.removed).toBe(second.rotations - 3);
      const after = files();
      expect(after.length).toBe(before + 3);
      const numbers = after.slice(0, -1).map((f) => Number(f.split('.').at(-2)));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      expect(after.map((f) => readFileSync(f, 'utf8')).join('').endsWith(all.slice(-10).join(''))).toBe(true);
    });
  }
});
