import fc from 'fast-check';
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { byteSize } from './options.js';

describe('--record-rotate sizes', () => {
  const parse = byteSize('--record-rotate');
  it('reads bytes and binary units, with or without B / iB', () => {
    expect(parse('1048576')).toBe(2 ** 20);
    expect(parse('256M')).toBe(256 * 2 ** 20);
    expect(parse('256MiB')).toBe(256 * 2 ** 20);
    expect(parse('1.5g')).toBe(1.5 * 2 ** 30);
    expect(parse(' 2 GB ')).toBe(2 * 2 ** 30);
    expect(parse('1T')).toBe(2 ** 40);
  });

  it('anything else, or under 1M, is refused with the flag named and an example; never a crash', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        let n: number | undefined;
        try {
          n = parse(s);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidArgumentError);
          expect((e as Error).message).toMatch(/^--record-rotate must be a size of at least 1M, such as 256M/);
          return;
        }
        expect(Number.isSafeInteger(n)).toBe(true);
        expect(n).toBeGreaterThanOrEqual(2 ** 20);
      }),
    );
    for (const bad of ['', 'M', '-5M', '100K', '1e9', '12 parsecs', '0x100000']) expect(() => parse(bad), bad).toThrow(InvalidArgumentError);
  });
});
