import type { NumRead, PrintfLayout } from '../decode/printf-layouts.js';
import { ipv4Text, ipv6Text } from '../util/ip-text.js';
import { FRAME, FRAME_ECHOED } from '../util/probe-format.js';

/**
 * What one printf call's arguments hold, for tests: each integer as the
 * 64-bit pattern bpftrace writes, the string argument as its value (or an
 * address for ntop()).
 */
export interface RecordValues {
  nums: bigint[];
  str: string | { family: 2 | 10; addr: Uint8Array } | bigint | undefined;
}

const MASK64 = (1n << 64n) - 1n;

/** The integer arguments a layout reads (constants take none). */
export function argumentFields(layout: PrintfLayout): NumRead[] {
  return layout.nums.filter((f) => f.as !== 'const');
}

/** The bytes bpftrace 0.17 writes to its perf buffer for this printf (its id, then the arguments; 4 bytes of padding as perf hands them over), framed as probes/binary-records.c frames them. */
export function encodeFrame(layout: PrintfLayout, v: RecordValues, echoed = false): Buffer {
  const rec = Buffer.alloc(layout.size + 4);
  rec.writeBigUInt64LE(BigInt(layout.id), 0);
  let i = 0;
  for (const f of layout.nums) {
    if (f.as === 'u64' || f.as === 's64' || f.as === 's32' || f.as === 'u32') rec.writeBigUInt64LE(v.nums[i++]! & MASK64, f.at);
  }
  const s = layout.str;
  if (s !== undefined) {
    if (s.as === 'str') Buffer.from(v.str as string, 'utf8').copy(rec, s.at, 0, s.size - 1);
    else if (s.as === 'ntop') {
      const a = v.str as { family: number; addr: Uint8Array };
      rec.writeBigUInt64LE(BigInt(a.family), s.at);
      Buffer.from(a.addr).copy(rec, s.at + 8);
    } else if (s.as === 'int-str') rec.writeBigUInt64LE((v.str as bigint) & MASK64, s.at);
  }
  const head = Buffer.alloc(5);
  head[0] = echoed ? FRAME_ECHOED : FRAME;
  head.writeUInt32LE(rec.length, 1);
  return Buffer.concat([head, rec]);
}

function asText(as: 'u64' | 's64' | 's32' | 'u32', x: bigint): string {
  const u = x & MASK64;
  switch (as) {
    case 'u64':
      return u.toString();
    case 's64':
      return BigInt.asIntN(64, u).toString();
    case 's32':
      return BigInt.asIntN(32, u).toString();
    case 'u32':
      return BigInt.asUintN(32, u).toString();
  }
}

/** The record's text as bpftrace formats it (C printf semantics: %d and %u print the low 32 bits), as its `-f json` line. */
export function bpftraceLine(layout: PrintfLayout, v: RecordValues): string {
  const fields: string[] = [layout.kind];
  let i = 0;
  for (const f of layout.nums) {
    if (f.as === 'const') fields.push(String(f.value));
    else if (f.as === 'u64' || f.as === 's64' || f.as === 's32' || f.as === 'u32') fields.push(asText(f.as, v.nums[i++]!));
  }
  const s = layout.str;
  if (s !== undefined) {
    if (s.as === 'str') {
      const bytes = Buffer.from(v.str as string, 'utf8').subarray(0, s.size - 1);
      fields.push(s.prefix + bytes.toString('utf8') + s.suffix);
    } else if (s.as === 'ntop') {
      const a = v.str as { family: number; addr: Uint8Array };
      // as bpftrace's ntop() writes it (inet_ntop(3); util/ip-text is held to the C library in its own test)
      const w = Buffer.from(a.addr);
      const text = a.family === 2 ? ipv4Text(w.readUInt32LE(0)) : ipv6Text([0, 4, 8, 12].map((o) => w.readUInt32LE(o)));
      fields.push(s.prefix + text + s.suffix);
    } else if (s.as === 'int-str') fields.push(asText(s.read, v.str as bigint));
    else if (s.as === 'const-str') fields.push(s.value);
  }
  return `{"type": "printf", "data": ${JSON.stringify(`${fields.join('\t')}\n`)}}`;
}
