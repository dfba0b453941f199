import { RAW_LAYOUT, type RawKind } from './raw-record.js';
import { ChainwatchError } from '../util/errors.js';

/**
 * Where each field of a printf record lies in the bytes bpftrace's probe
 * writes to its perf buffer, so chainwatch can read a record without
 * bpftrace formatting it (probes/binary-records.c). bpftrace 0.17 gives each
 * printf call an id in the order the calls appear in the script (a probe
 * with several attach points shares its calls), and lays its arguments out
 * after the 8-byte id with no padding: integers widened to 8 bytes, str()
 * as BPFTRACE_STRLEN bytes, comm as 16, ntop() as 24 (the family, 8 bytes,
 * then 16 bytes of address). The conversion decides how an integer reads:
 * %d and %u take its low 32 bits, %ld and %lu all 64.
 *
 * A layout is an assumption about bpftrace's internals; the decoder checks
 * it against bpftrace's own text of the first record of every id (the
 * preload hands that record to bpftrace too) before trusting it.
 */

export type NumRead =
  /** %lu, %llu */
  | { as: 'u64'; at: number }
  /** %ld, %lld */
  | { as: 's64'; at: number }
  /** %d, %i */
  | { as: 's32'; at: number }
  /** %u */
  | { as: 'u32'; at: number }
  /** a number written into the format itself */
  | { as: 'const'; value: number };

export type StrRead =
  /** %s of str() or comm: the bytes up to the first NUL (with the format's text around the %s) */
  | { as: 'str'; at: number; size: number; prefix: string; suffix: string }
  /** %s of ntop(): an address family and 16 bytes */
  | { as: 'ntop'; at: number; prefix: string; suffix: string }
  /** an integer conversion in the string's place (a vsock CID as the address), read as `read` and written in decimal */
  | { as: 'int-str'; read: 'u64' | 's64' | 's32' | 'u32'; at: number }
  /** text written into the format itself, in the string's place */
  | { as: 'const-str'; value: string };

export type FieldRead = NumRead | StrRead;

export interface PrintfLayout {
  id: number;
  kind: RawKind;
  /** The numeric fields of RAW_LAYOUT[kind], in order. */
  nums: NumRead[];
  /** The trailing string, when the kind has one. */
  str: StrRead | undefined;
  /** Bytes of the record bpftrace writes: the id and every argument. */
  size: number;
}

const COMM_BYTES = 16;
const NTOP_BYTES = 24;

const INT_CONVERSIONS: Record<string, 'u64' | 's64' | 's32' | 'u32'> = {
  '%lu': 'u64',
  '%llu': 'u64',
  '%ld': 's64',
  '%lld': 's64',
  '%d': 's32',
  '%i': 's32',
  '%u': 'u32',
};

/** The index just past the string literal that opens at `from` (a `"`). */
function skipString(text: string, from: number): number {
  let j = from + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j + 1;
}

/**
 * The comma-separated arguments of a call from `from` (just past its
 * opening parenthesis, or past its first argument) to its closing
 * parenthesis: commas inside nested parentheses, brackets, braces and string
 * literals do not split. `end` is the closing parenthesis (or the text's end).
 */
function callArgs(text: string, from: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let start = from;
  let k = from;
  for (; k < text.length; k++) {
    const ch = text[k]!;
    if (ch === '"') k = skipString(text, k) - 1;
    else if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      if (depth === 0) break;
      depth--;
    } else if (ch === ',' && depth === 0) {
      args.push(text.slice(start, k).trim());
      start = k + 1;
    }
  }
  const last = text.slice(start, k).trim();
  if (last !== '' || args.length > 0) args.push(last);
  return { args, end: k };
}

/** The printf calls of a rendered script (macros already expanded), in order: the format's source text and its argument texts. */
function printfCalls(script: string): { format: string; args: string[]; line: number }[] {
  const calls: { format: string; args: string[]; line: number }[] = [];
  const n = script.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const c = script[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === '/' && script[i + 1] === '/') {
      while (i < n && script[i] !== '\n') i++;
    } else if (c === '/' && script[i + 1] === '*') {
      const end = script.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (script[k] === '\n') line++;
      i = stop;
    } else if (c === '"') {
      i = skipString(script, i);
    } else if (script.startsWith('printf', i) && !/[\w$@]/.test(script[i - 1] ?? ' ') && /^printf\s*\(/.test(script.slice(i, i + 12))) {
      let j = script.indexOf('(', i) + 1;
      while (/\s/.test(script[j] ?? '')) j++;
      if (script[j] !== '"') throw new ChainwatchError('PROBE_START', `probe line ${line}: a printf whose format is not a string literal`);
      const fmtEnd = skipString(script, j);
      const format = script.slice(j + 1, fmtEnd - 1);
      // the arguments after the format: what follows it is a comma, then the first argument
      const { args, end } = callArgs(script, fmtEnd);
      calls.push({ format, args: args.slice(1), line });
      for (let m = i; m < end; m++) if (script[m] === '\n') line++;
      i = end + 1;
    } else {
      i++;
    }
  }
  return calls;
}

/** The C escapes a format uses. */
function unescapeFormat(s: string): string {
  return s.replace(/\\(.)/g, (_, e: string) => (e === 't' ? '\t' : e === 'n' ? '\n' : e));
}

/**
 * Every printf's layout, by id. Throws a ChainwatchError naming the printf
 * when one cannot be read from bytes (a format chainwatch's records do not
 * use); the caller then leaves bpftrace to format records as text.
 */
export function printfLayouts(script: string, strlen: number): PrintfLayout[] {
  return printfCalls(script).map((call, id) => {
    const where = `probe line ${call.line}, printf("${call.format.slice(0, 40)}…")`;
    const fail = (what: string): never => {
      throw new ChainwatchError('PROBE_START', `${where}: ${what}`, { fix: 'keep probe records as TAB-separated fields, each one conversion (%lu %ld %d %u %s) or a constant' });
    };
    const text = unescapeFormat(call.format);
    if (!text.endsWith('\n')) fail('the record does not end with a newline');
    const parts = text.slice(0, -1).split('\t');
    const kind = parts[0] as RawKind;
    if (!Object.hasOwn(RAW_LAYOUT, kind)) fail(`unknown record kind ${JSON.stringify(parts[0])}`);
    const raw = RAW_LAYOUT[kind];
    const templates = parts.slice(1);
    const want = raw.nums.length + (raw.str === null ? 0 : 1);
    if (templates.length !== want) fail(`${templates.length} fields, ${kind} has ${want}`);
    let at = 8;
    let arg = 0;
    const nextArg = (): string => call.args[arg++] ?? fail(`more conversions than arguments`);
    const nums: NumRead[] = [];
    let str: StrRead | undefined;
    templates.forEach((t, i) => {
      const isStr = i === raw.nums.length;
      if (!t.includes('%')) {
        if (isStr) str = { as: 'const-str', value: t };
        else if (/^-?\d{1,15}$/.test(t)) nums.push({ as: 'const', value: Number(t) });
        else fail(`field ${i + 1} is the constant ${JSON.stringify(t)}, not an integer`);
        return;
      }
      if (isStr) {
        const asInt = INT_CONVERSIONS[t];
        if (asInt !== undefined) {
          nextArg();
          str = { as: 'int-str', read: asInt, at };
          at += 8;
          return;
        }
        const m = /^([^%]*)%s([^%]*)$/.exec(t);
        if (m === null) fail(`the string field is ${JSON.stringify(t)}, not one %s`);
        const [, prefix, suffix] = m as unknown as [string, string, string];
        const a = nextArg();
        if (a === 'comm') {
          str = { as: 'str', at, size: COMM_BYTES, prefix, suffix };
          at += COMM_BYTES;
        } else if (/^ntop\s*\(/.test(a)) {
          str = { as: 'ntop', at, prefix, suffix };
          at += NTOP_BYTES;
        } else if (/^str\s*\(/.test(a) && a.endsWith(')') && callArgs(a, a.indexOf('(') + 1).args.length <= 2) {
          // str(x) and str(x, n) alike: BPFTRACE_STRLEN bytes, NUL-terminated within n
          str = { as: 'str', at, size: strlen, prefix, suffix };
          at += strlen;
        } else {
          fail(`%s of ${JSON.stringify(a.slice(0, 40))}: only comm, ntop() and str() are laid out`);
        }
        return;
      }
      const as = INT_CONVERSIONS[t];
      if (as === undefined) fail(`field ${i + 1} is ${JSON.stringify(t)}, not one of ${Object.keys(INT_CONVERSIONS).join(' ')}`);
      nextArg();
      nums.push({ as: as!, at });
      at += 8;
    });
    if (arg !== call.args.length) fail(`${call.args.length} arguments for ${arg} conversions`);
    return { id, kind, nums, str, size: at };
  });
}
