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

function makeReader(layout: PrintfLayout): RecordReader {
  // generated from the layout alone (offsets and constants chainwatch computed), never from input
  const readNums = new Function('b', 'a', 'n', `${layout.nums.map((f, i) => `n[${i}]=${numberExpr(f)};`).join('')}n.length=${layout.nums.length};`) as (b: Buffer, a: number, n: number[]) => void;
  const ts = layout.nums[0];
  const tsAt = ts !== undefined && ts.as === 'u64' ? ts.at : -1;
  const str = layout.str;
  const kind = layout.kind;
  const size = layout.size;
  return (buf, at, len, into) => {
    if (len < size) return `${kind}: ${len} bytes, its layout needs ${size}`;
    const n = into.n;
    readNums(buf, at, n);
    into.kind = kind;
    // a timestamp of 16 digits or more keeps its exact decimal text, as the text parser keeps it
    into.tsRaw = tsAt >= 0 && n[0]! >= 1e15 ? u64Text(buf, at + tsAt) : '';
    into.s = str === undefined ? '' : readString(buf, at, str);
    return into;
  };
}

function readNumber(buf: Buffer, base: number, f: NumRead): number {
  switch (f.as) {
    case 'u64':
      return buf.readUInt32LE(base + f.at + 4) * 4294967296 + buf.readUInt32LE(base + f.at);
    case 's64':
      return buf.readInt32LE(base + f.at + 4) * 4294967296 + buf.readUInt32LE(base + f.at);
    case 's32':
      return buf.readInt32LE(base + f.at);
    case 'u32':
      return buf.readUInt32LE(base + f.at);
    case 'const':
      return f.value;
  }
}

function u64Text(buf: Buffer, at: number): string {
  return ((BigInt(buf.readUInt32LE(at + 4)) << 32n) | BigInt(buf.readUInt32LE(at))).toString();
}

function readString(buf: Buffer, base: number, f: StrRead): string {
  switch (f.as) {
    case 'str': {
      const from = base + f.at;
      let end = buf.indexOf(0, from);
      if (end < 0 || end > from + f.size) end = from + f.size;
      const s = buf.toString('utf8', from, end);
      return f.prefix === '' && f.suffix === '' ? s : f.prefix + s + f.suffix;
    }
    case 'ntop': {
      const s = ntop(buf, base + f.at);
      return f.prefix === '' && f.suffix === '' ? s : f.prefix + s + f.suffix;
    }
    case 'int-str': {
      const v = readNumber(buf, base, { as: f.read, at: f.at });
      return f.read === 'u64' && v >= 2 ** 53 ? u64Text(buf, base + f.at) : String(v);
    }
    case 'const-str':
      return f.value;
  }
}

/** bpftrace's ntop(): `{ u64 family; u8 address[16] }`. */
function ntop(buf: Buffer, at: number): string {
  const family = buf.readUInt32LE(at);
  if (family === 2) return `${buf[at + 8]}.${buf[at + 9]}.${buf[at + 10]}.${buf[at + 11]}`;
  if (family === 10) return inetNtop6(buf, at + 8);
  return '';
}

/**
 * IPv6 text as glibc's inet_ntop(3) writes it (bpftrace calls it): lowercase
 * hex words without leading zeros, the longest run of two or more zero words
 * (the first of equal ones) as "::", and an IPv4-mapped (::ffff:a.b.c.d) or
 * IPv4-compatible (::a.b.c.d, all but the last two words zero and not ::1
 * or ::) address with its last 32 bits as dotted quad.
 */
export function inetNtop6(buf: Uint8Array, at: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[at + 2 * i]! << 8) | buf[at + 2 * i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase >= 0) {
      if (bestBase < 0 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase >= 0 && (bestBase < 0 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase >= 0 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${buf[at + 12]}.${buf[at + 13]}.${buf[at + 14]}.${buf[at + 15]}`;
      break;
    }
    out += w[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}
