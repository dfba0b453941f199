import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv4Text, ipv6Text } from './ip-text.js';

/** The four in-memory words of an address written as 16 bytes. */
const words = (bytes: number[]): number[] => [0, 1, 2, 3].map((w) => (bytes[w * 4]! | (bytes[w * 4 + 1]! << 8) | (bytes[w * 4 + 2]! << 16) | (bytes[w * 4 + 3]! << 24)) >>> 0);
const v6 = (text: string): number[] => {
  // test-side parser of the full form: 8 groups
  const groups = text.split(':').map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 255]);
};

describe('IP addresses from kernel words', () => {
  it('IPv4: the word as it sits in memory', () => {
    expect(ipv4Text(0x0200007f)).toBe('127.0.0.2');
    expect(ipv4Text(0xffffffff)).toBe('255.255.255.255');
    expect(ipv4Text(0)).toBe('0.0.0.0');
  });

  it('IPv6: the forms inet_ntop writes', () => {
    expect(ipv6Text(words(v6('0:0:0:0:0:0:0:0')))).toBe('::');
    expect(ipv6Text(words(v6('0:0:0:0:0:0:0:1')))).toBe('::1');
    expect(ipv6Text(words(v6('2001:db8:0:0:0:0:0:1')))).toBe('2001:db8::1');
    expect(ipv6Text(words(v6('2001:db8:0:1:0:0:0:1')))).toBe('2001:db8:0:1::1');
    expect(ipv6Text(words(v6('2001:0:0:1:0:0:1:1')))).toBe('2001::1:0:0:1:1');
    expect(ipv6Text(words(v6('0:0:0:0:0:ffff:7f00:2')))).toBe('::ffff:127.0.0.2');
    expect(ipv6Text(words(v6('0:0:0:0:0:0:7f00:2')))).toBe('::127.0.0.2');
    expect(ipv6Text(words(v6('fe80:0:0:0:1:2:3:4')))).toBe('fe80::1:2:3:4');
  });

  it('IPv6, any address: the same address back, and the canonical text (RFC 5952) unless v4-mapped or v4-compatible', () => {
    const byte = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(byte, { minLength: 16, maxLength: 16 }), (bytes) => {
        const text = ipv6Text(words(bytes));
        const full = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16)).join(':');
        // the URL parser's serialisation is canonical: the same address gives the same host
        expect(new URL(`http://[${text}]/`).hostname).toBe(new URL(`http://[${full}]/`).hostname);
        if (!text.includes('.')) expect(`[${text}]`).toBe(new URL(`http://[${full}]/`).hostname);
      }),
      { numRuns: 2000 },
    );
  });

  it('IPv6: as glibc inet_ntop(3) writes it, which bpftrace\'s ntop() calls (compared with the C library through python3)', () => {
    const group = (...w: number[]): number[] => w.flatMap((g) => [g >> 8, g & 255]);
    const special = [group(0, 0, 0, 0, 0, 0, 0, 0), group(0, 0, 0, 0, 0, 0, 0, 1), group(0, 0, 0, 0, 0, 0xffff, 0x7f00, 2), group(0, 0, 0, 0, 0, 0, 0x7f00, 2), group(0xfe80, 0, 0, 0, 0, 0, 0, 1), group(1, 0, 0, 1, 0, 0, 0, 1), group(1, 0, 0, 0, 1, 0, 0, 0)];
    const samples = fc.sample(fc.oneof(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), fc.constantFrom(...special), fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 })), 3000);
    const hex = samples.map((a) => Buffer.from(a).toString('hex'));
    const libc = execFileSync('python3', ['-c', 'import socket,sys\nfor l in sys.stdin: print(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(l.strip())))'], { input: hex.join('\n') })
      .toString()
      .trim()
      .split('\n');
    expect(samples.map((a) => ipv6Text(words(a)))).toEqual(libc);
  });
});
