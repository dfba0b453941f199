import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event } from '../schema/event.js';
import { PROBE_STRLEN } from '../util/probe-format.js';
import { renderProbe } from '../source/probe-catalog.js';
import { printfLayouts, type PrintfLayout } from './printf-layouts.js';
import { ProbeOutput } from '../source/probe-output.js';
import { argumentFields, bpftraceLine, encodeFrame, type RecordValues } from '../testing/probe-records.js';
import { ProbeDecoder, type DecodeIssue } from './probe-decoder.js';

const EPOCH = 1_000_000_000n;
const LAYOUTS = printfLayouts(renderProbe({ mode: 'cgroup', path: '/sandboxes', ids: [7] }, [1]).script, PROBE_STRLEN);

/** 64-bit patterns: small, negative, at the 32-bit and 2^53 edges, anything. */
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 70_000n }),
  fc.bigInt({ min: -5n, max: -1n }),
  fc.constantFrom(0n, 1n, 0xffff_ffffn, 0x1_0000_0000n, 0x7fff_ffffn, 0x8000_0000n, 2n ** 53n - 1n, 2n ** 53n + 1n, 10n ** 15n - 1n, 10n ** 15n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const text = fc.string({ unit: fc.oneof(fc.constantFrom('\t', '\n', '"', '\\', 'é', '€', '😀', '\u0001'), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 40 }).map((s) => s.replaceAll('\0', ''));
const addr = fc.oneof(
  fc.record({ family: fc.constant(2 as const), addr: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
  fc.record({ family: fc.constant(10 as const), addr: fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.constantFrom(...SPECIAL_V6())) }),
);

function SPECIAL_V6(): Uint8Array[] {
  const a = (words: number[]): Uint8Array => new Uint8Array(words.flatMap((w) => [w >> 8, w & 0xff]));
  return [a([0, 0, 0, 0, 0, 0, 0, 0]), a([0, 0, 0, 0, 0, 0, 0, 1]), a([0, 0, 0, 0, 0, 0xffff, 0x7f00, 2]), a([0, 0, 0, 0, 0, 0, 0x7f00, 2]), a([0xfe80, 0, 0, 0, 0, 0, 0, 1]), a([1, 0, 0, 1, 0, 0, 0, 1]), a([1, 0, 0, 0, 1, 0, 0, 0])];
}

function valuesFor(layout: PrintfLayout): fc.Arbitrary<RecordValues> {
  const nums = fc.tuple(...argumentFields(layout).map(() => u64));
  const s = layout.str;
  const str: fc.Arbitrary<RecordValues['str']> =
    s === undefined || s.as === 'const-str' ? fc.constant(undefined) : s.as === 'ntop' ? addr : s.as === 'int-str' ? u64 : text;
  return fc.record({ nums: nums.map((n) => [...n]), str });
}

const record = fc.constantFrom(...LAYOUTS).chain((layout) => valuesFor(layout).map((v) => ({ layout, v })));

function decodeText(lines: string[]): { events: Event[]; issues: DecodeIssue[]; d: ProbeDecoder } {
  const issues: DecodeIssue[] = [];
  const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
  const events: Event[] = [];
  d.decodeText(lines.map((l) => `${l}\n`).join(''), (e) => events.push(e));
  return { events, issues, d };
}

function decodeBytes(bytes: Buffer, cuts: number[] = []): { events: Event[]; issues: DecodeIssue[]; d: ProbeDecoder } {
  const issues: DecodeIssue[] = [];
  const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i), printfLayouts: LAYOUTS });
  const events: Event[] = [];
  const out = new ProbeOutput();
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  const feed = (parts: (string | Buffer)[]): void => {
    for (const p of parts) {
      if (typeof p === 'string') d.decodeText(p, (e) => events.push(e));
      else d.decodeFrames(p, (e) => events.push(e));
    }
  };
  for (const p of [...points, bytes.length]) {
    feed(out.push(bytes.subarray(from, p)));
    from = p;
  }
  feed(out.end());
  return { events, issues, d };
}

describe('binary records', () => {
  it('every printf of the probe has a layout, in every scope, with enforcement and without the ia32 program', () => {
    for (const scope of [{ mode: 'host' as const }, { mode: 'pid' as const, pids: [1] }, { mode: 'cgroup' as const, path: '/x', ids: [5] }]) {
      for (const ia32 of [true, false]) {
        const layouts = printfLayouts(renderProbe(scope, [], undefined, undefined, ia32).script, PROBE_STRLEN);
        expect(layouts.length).toBeGreaterThan(150);
        expect(layouts.at(-1)!.kind).toBe('HELLO');
      }
    }
    const open = LAYOUTS.find((l) => l.kind === 'OPEN')!;
    // id, ts, cgroup, pid, tid, then 8 more integers, then str(path): every integer 8 bytes, the path 160
    expect(open.nums.map((f) => (f.as === 'const' ? 'const' : f.at))).toEqual([8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96]);
    expect(open.str).toEqual({ as: 'str', at: 104, size: 160, prefix: '', suffix: '' });
    expect(open.size).toBe(264);
    // the abstract unix address is '@' and the name; a vsock peer's CID is the address, written in decimal
    expect(LAYOUTS.some((l) => l.kind === 'ADDR' && l.str?.as === 'str' && l.str.prefix === '@')).toBe(true);
    expect(LAYOUTS.some((l) => l.kind === 'ADDR' && l.str?.as === 'int-str')).toBe(true);
    expect(LAYOUTS.some((l) => l.kind === 'ADDR' && l.str?.as === 'ntop')).toBe(true);
    // the kept first read (IOD) writes its slot as a constant 0
    expect(LAYOUTS.find((l) => l.kind === 'IOD')!.nums[4]).toEqual({ as: 'const', value: 0 });
  });

  it('a format chainwatch cannot read from bytes is refused with its place, not guessed', () => {
    expect(() => printfLayouts('BEGIN { printf("OPEN\\t%lx\\n", 1); }', 160)).toThrow(/probe line 1.*%lx/);
    expect(() => printfLayouts('BEGIN { printf("NOPE\\t%d\\n", 1); }', 160)).toThrow(/unknown record kind "NOPE"/);
    expect(() => printfLayouts('BEGIN { printf("TICK\\t%lu\\t%lu\\n", 1, 2); }', 160)).toThrow(/2 fields, TICK has 1/);
    expect(() => printfLayouts('BEGIN {\n printf("COMM\\t%lu\\t%lu\\t%d\\t%d\\t%s\\n", 1, 2, 3, 4, buf(5)); }', 160)).toThrow(/probe line 2.*only comm, ntop\(\) and str\(\) are laid out/);
  });

  it('reading records from their bytes gives the same events and reports as reading bpftrace\'s text of them, however the bytes are cut', () => {
    fc.assert(
      // some records stay text (bpftrace's own lines: loss reports, map dumps, records it formats) between the frames
      fc.property(fc.array(fc.tuple(record, fc.boolean()), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (recs, cuts) => {
        const fromText = decodeText(recs.map(([r]) => bpftraceLine(r.layout, r.v)));
        const fromBytes = decodeBytes(Buffer.concat(recs.map(([r, asText]) => (asText ? Buffer.from(`${bpftraceLine(r.layout, r.v)}\n`) : encodeFrame(r.layout, r.v)))), cuts);
        expect(fromBytes.events).toEqual(fromText.events);
        expect(fromBytes.issues.map((i) => i.reason)).toEqual(fromText.issues.map((i) => i.reason));
        expect(fromBytes.d.stats.records).toBe(fromText.d.stats.records);
        expect(fromBytes.d.stats.frames).toBe(recs.filter(([, asText]) => !asText).length);
      }),
      { numRuns: 1500 },
    );
  });

  it('an echoed record is decoded once, from its text, and its layout is checked against it', () => {
    const layout = LAYOUTS.find((l) => l.kind === 'CLOSE')!;
    const v: RecordValues = { nums: [5_000_000_000n, 7n, 100n, 101n, 3n, 0n], str: undefined };
    const line = bpftraceLine(layout, v);
    const bytes = Buffer.concat([encodeFrame(layout, v, true), Buffer.from(`${line}\n`), encodeFrame(layout, { ...v, nums: [6_000_000_000n, 7n, 100n, 101n, 4n, 0n] })]);
    const { events, issues, d } = decodeBytes(bytes, [3, 40]);
    expect(issues).toEqual([]);
    expect(events.map((e) => [e.kind, (e as { fd?: number }).fd])).toEqual([
      ['fd.close', 3],
      ['fd.close', 4],
    ]);
    expect(d.stats).toMatchObject({ layoutsChecked: 1, layoutsWrong: 0, frames: 2 });
  });

  it('a layout that disagrees with bpftrace\'s text is reported and never used: its later records are reported, not read', () => {
    const layout = LAYOUTS.find((l) => l.kind === 'CLOSE')!;
    const v: RecordValues = { nums: [5_000_000_000n, 7n, 100n, 101n, 3n, 0n], str: undefined };
    // bpftrace printed fd 9 where the bytes say 3: the layout is wrong
    const line = bpftraceLine(layout, { ...v, nums: [5_000_000_000n, 7n, 100n, 101n, 9n, 0n] });
    const bytes = Buffer.concat([encodeFrame(layout, v, true), Buffer.from(`${line}\n`), encodeFrame(layout, v)]);
    const { events, issues, d } = decodeBytes(bytes);
    expect(events.map((e) => (e as { fd?: number }).fd)).toEqual([9]);
    expect(d.stats).toMatchObject({ layoutsChecked: 1, layoutsWrong: 1, malformed: 2 });
    expect(issues[0]!.reason).toMatch(/printf id \d+: its bytes read as CLOSE .* 3 .*bpftrace printed CLOSE .* 9/);
    expect(issues[1]!.reason).toMatch(/CLOSE \(printf id \d+\): its layout disagreed with bpftrace's text, the record cannot be read/);
  });

  it('a cut or unknown frame is reported with its place, and the records around it are kept', () => {
    const layout = LAYOUTS.find((l) => l.kind === 'CLOSE')!;
    const v: RecordValues = { nums: [5_000_000_000n, 7n, 100n, 101n, 3n, 0n], str: undefined };
    const unknown = encodeFrame(layout, v);
    unknown.writeUInt32LE(60_000, 5);
    const whole = encodeFrame(layout, v);
    const { events, issues } = decodeBytes(Buffer.concat([whole, unknown, whole, whole.subarray(0, 20)]));
    expect(events).toHaveLength(2);
    expect(issues.map((i) => i.reason)).toEqual([expect.stringMatching(/unknown printf id 60000/), 'not a whole binary record frame']);
  });
});
