import { ipv4Text, ipv6Text } from '../util/ip-text.js';
import type { NumRead, PrintfLayout, StrRead } from './printf-layouts.js';
import type { RawRecord } from './raw-record.js';

/**
 * Reads one printf record from the bytes the probe wrote (a frame of
 * probes/binary-records.c) into the same RawRecord the text parser fills,
 * with the same numbers and strings bpftrace's formatting would have
 * printed: %d and %u take the low 32 bits, %lu and %ld all 64 (exact below
 * 2^53, correctly rounded above, as the text parser's Number() is), a string
 * ends at its first NUL, ntop() is written as inet_ntop(3) writes it.
 * Never throws; returns the reason when the bytes are too few.
 */
export function readBinaryRecord(buf: Buffer, at: number, len: number, layout: PrintfLayout, into: RawRecord): RawRecord | string {
  return recordReader(layout)(buf, at, len, into);
}

export type RecordReader = (buf: Buffer, at: number, len: number, into: RawRecord) => RawRecord | string;

const readers = new WeakMap<PrintfLayout, RecordReader>();

/** The reader of one layout, made once: its numbers read by a function generated for it (straight-line byte loads, no per-field dispatch). */
export function recordReader(layout: PrintfLayout): RecordReader {
  let r = readers.get(layout);
  if (r === undefined) {
    r = makeReader(layout);
    readers.set(layout, r);
  }
  return r;
}

// little-endian loads at a+o; every offset is inside the record, checked against its size first
const u32 = (o: number): string => `((b[a+${o}]|b[a+${o + 1}]<<8|b[a+${o + 2}]<<16)+b[a+${o + 3}]*16777216)`;
const s32 = (o: number): string => `(b[a+${o}]|b[a+${o + 1}]<<8|b[a+${o + 2}]<<16|b[a+${o + 3}]<<24)`;

function numberExpr(f: NumRead): string {
  switch (f.as) {
    case 'u64':
      return `${u32(f.at + 4)}*4294967296+${u32(f.at)}`;
    case 's64':
      return `${s32(f.at + 4)}*4294967296+${u32(f.at)}`;
    case 's32':
      return s32(f.at);
    case 'u32':
      return u32(f.at);
    case 'const':
      return String(f.value);
  }
}

/** A function of the record's bytes `b` at `a`, generated from a layout alone (offsets and constants chainwatch computed, never input). */
function generated<F>(params: string[], body: string): F {
  return new Function('b', 'a', ...params, body) as F;
}

function makeReader(layout: PrintfLayout): RecordReader {
  const readNums = generated<(b: Buffer, a: number, n: number[]) => void>(['n'], `${layout.nums.map((f, i) => `n[${i}]=${numberExpr(f)};`).join('')}if(n.length!==${layout.nums.length})n.length=${layout.nums.length};`);
  const ts = layout.nums[0];
  const tsAt = ts !== undefined && ts.as === 'u64' ? ts.at : -1;
  const readStr = stringReader(layout.str);
  const kind = layout.kind;
  const size = layout.size;
  return (buf, at, len, into) => {
    if (len < size) return `${kind}: ${len} bytes, its layout needs ${size}`;
    const n = into.n;
    readNums(buf, at, n);
    into.kind = kind;
    // a timestamp of 16 digits or more keeps its exact decimal text, as the text parser keeps it
    into.tsRaw = tsAt >= 0 && n[0]! >= 1e15 ? u64Text(buf, at + tsAt) : '';
    into.s = readStr(buf, at);
    return into;
  };
}

/** The reader of a record's trailing string (with the format's text around a %s). */
function stringReader(f: StrRead | undefined): (buf: Buffer, base: number) => string {
  if (f === undefined) return () => '';
  switch (f.as) {
    case 'const-str': {
      const v = f.value;
      return () => v;
    }
    case 'int-str': {
      const read = generated<(b: Buffer, a: number) => number>([], `return ${numberExpr({ as: f.read, at: f.at })};`);
      // a u64 at or above 2^53 keeps its exact decimal text
      if (f.read !== 'u64') return (buf, base) => String(read(buf, base));
      return (buf, base) => {
        const v = read(buf, base);
        return v >= 2 ** 53 ? u64Text(buf, base + f.at) : String(v);
      };
    }
    case 'str':
    case 'ntop': {
      const at = f.at;
      const size = f.as === 'str' ? f.size : 0;
      const core = f.as === 'ntop' ? (buf: Buffer, base: number): string => ntop(buf, base + at) : (buf: Buffer, base: number): string => cString(buf, base + at, size);
      const { prefix, suffix } = f;
      return prefix === '' && suffix === '' ? core : (buf, base) => prefix + core(buf, base) + suffix;
    }
  }
}

function u64Text(buf: Buffer, at: number): string {
  return ((BigInt(buf.readUInt32LE(at + 4)) << 32n) | BigInt(buf.readUInt32LE(at))).toString();
}

/** The bytes up to the first NUL within `size`, as UTF-8. */
function cString(buf: Buffer, from: number, size: number): string {
  let end = buf.indexOf(0, from);
  if (end < 0 || end > from + size) end = from + size;
  return buf.toString('utf8', from, end);
}

/** bpftrace's ntop(): `{ u64 family; u8 address[16] }`; the address as the in-memory words util/ip-text reads. */
function ntop(buf: Buffer, at: number): string {
  const family = buf.readUInt32LE(at);
  if (family === 2) return ipv4Text(buf.readUInt32LE(at + 8));
  if (family === 10) return ipv6Text([buf.readUInt32LE(at + 8), buf.readUInt32LE(at + 12), buf.readUInt32LE(at + 16), buf.readUInt32LE(at + 20)]);
  return '';
}
