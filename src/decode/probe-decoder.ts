import type { Event, EventOf } from '../schema/event.js';
import { syscallName } from '../util/syscalls.js';
import { int32, kernelObjId, lostCall } from './common.js';
import { DecodeContext } from './context.js';
import { decodeDup, decodeGetfd, decodeFcntl, decodeClose, decodeCloseRange, decodePipe, decodeSocket, decodeSocketpair, decodeRights } from './fd.js';
import { decodeOpen, decodeOpenByHandle, decodeMemfd, decodeXattr, decodePath2, decodeUnlink, decodeUringOpen, decodeUringPath } from './file.js';
import { decodeIo, decodeReadClose, decodeRun, decodeUringBlind, decodeUringRun, decodeXfer, firstCall } from './io.js';
import { decodeMap, decodeRemap, decodeShmat, decodeUnmap } from './memory.js';
import { decodeAccept, decodeAddr, decodeDest, decodeUringDest } from './net.js';
import { decodeTask, decodeFork, decodeExec, decodeComm, decodeExit, decodeChdir, decodeFchdir, decodeKill, decodeProcessVm, decodeCompatSyscall, decodePtrace, ptraceEvent, decodeString, decodeArg, decodeCgroupGone } from './process.js';
import { FRAME, FRAME_ECHOED, FRAME_HEAD } from '../util/probe-format.js';
import type { PrintfLayout } from './printf-layouts.js';
import { recordReader, type RecordReader } from './binary-record.js';
import { parseRaw, type RawKind, type RawRecord } from './raw-record.js';

type RecordDecoder = (rec: RawRecord, ctx: DecodeContext) => Event | null;

/** One decoder per task record kind. Liveness records are handled by ProbeDecoder itself. */
const DECODERS: Record<Exclude<RawKind, 'HELLO' | 'TICK' | 'BYE' | 'RDCL'>, RecordDecoder> = {
  TASK: decodeTask, FORK: decodeFork, S: decodeString, A: decodeArg, EXEC: decodeExec, COMM: decodeComm, EXIT: decodeExit, PVM: decodeProcessVm, I32: decodeCompatSyscall, PTR: decodePtrace,
  OPEN: decodeOpen, OPENH: decodeOpenByHandle, UOPEN: decodeUringOpen, UPATH: decodeUringPath, MEMFD: decodeMemfd, PATH2: decodePath2, UNLINK: decodeUnlink, XATTR: decodeXattr, CHDIR: decodeChdir, FCHDIR: decodeFchdir,
  DUP: decodeDup, FCNTL: decodeFcntl, CLOSE: decodeClose, CLOSERANGE: decodeCloseRange, PIPE: decodePipe,
  SOCK: decodeSocket, SOCKPAIR: decodeSocketpair, RIGHTS: decodeRights, MCTL: lostCall('control'),
  ADDR: decodeAddr, ACCEPT: decodeAccept, DEST: decodeDest, UDEST: decodeUringDest,
  IO: decodeIo, IOD: decodeIo, NOARGS: lostCall('args'), RUN: decodeRun, XFER: decodeXfer, UBLIND: decodeUringBlind, URUN: decodeUringRun, KILL: decodeKill, CGRM: decodeCgroupGone,
  MAP: decodeMap, UNMAP: decodeUnmap, REMAP: decodeRemap, SHMAT: decodeShmat, GETFD: decodeGetfd,
};

/** A line the decoder could not use: counted, reported with its line number, never fatal. */
export interface DecodeIssue {
  line: number;
  reason: string;
  excerpt: string;
}

export interface DecodeStats {
  lines: number;
  records: number;
  events: number;
  malformed: number;
  blank: number;
  lostEvents: number;
  lossReports: number;
  ticks: number;
  /** Exit-time dumps of the probe's own bookkeeping maps (after an overload lost END's clear()). */
  bookkeepingDumps: number;
  /** Records read from their bytes (probes/binary-records.c frames), not from bpftrace's text. */
  frames: number;
  /** printf ids whose layout was checked against bpftrace's text of their first record, and how many of those disagreed. */
  layoutsChecked: number;
  layoutsWrong: number;
  /** Exec arguments that arrived after their exec had left the reorder stage (it stopped waiting): not added to it. */
  argsLate: number;
}

export interface ProbeDecoderOptions {
  monoEpochNs: bigint;
  onIssue?: (issue: DecodeIssue) => void;
  /** Called for liveness records (HELLO, TICK, BYE) with their monotonic time. */
  onLiveness?: (kind: 'HELLO' | 'TICK' | 'BYE', monoNs: bigint, extra: number | undefined) => void;
  onAttached?: (probes: number) => void;
  /** The script's printf layouts by id (decode/printf-layouts.ts): needed to read binary frames. */
  printfLayouts?: readonly PrintfLayout[];
}

/** What a printf id's layout is known to be worth. */
const enum Checked {
  No = 0,
  Agrees = 1,
  Wrong = 2,
}

type BpftraceJson = { type?: unknown; data?: unknown };

/** How long an io_uring open waits for its path (printed at submission, perhaps on another CPU): far above delivery skew. */
const URING_PATH_WAIT_NS = 1e9;

const PRINTF_PREFIX = '{"type": "printf", "data": "';

/**
 * bpftrace 0.17's JSON writer escapes each byte >= 0x80 of a string as
 * `\u` and the byte as a sign-extended int in hex: `\uffffffc3` for 0xc3,
 * which JSON reads as U+FFFF then the text "ffc3". So a non-ASCII path or
 * argument arrives mangled; this gives back its bytes, read as UTF-8 (with
 * binary records, probes/binary-records.c, nothing is mangled).
 */
const MANGLED_MARK = '\uffff';
const MANGLED_RUN = /(?:\uffffff[0-9a-f]{2})+/g;

export function unmangle(s: string): string {
  return s.replace(MANGLED_RUN, (run) => {
    const bytes = Buffer.alloc(run.length / 5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 5 + 3, i * 5 + 5), 16);
    return bytes.toString('utf8');
  });
}

const QUOTE = 34;
const CLOSE_BRACE = 125;
/** Maps probes/chainwatch.bt keeps for itself (filters, pending syscall arguments, runs). */
const PROBE_MAPS = new Set([
  '@w', '@cg', '@ex', '@known', '@gen', '@cf', '@op', '@ohf', '@cln', '@xa', '@mf', '@pp2', '@ul', '@cd', '@fcd', '@dp', '@fc', '@cl', '@cr',
  '@pi', '@sk', '@spr', '@ca', '@ac', '@sto', '@sm', '@io', '@xf', '@prn', '@act', '@tk', '@hb', '@mlen', '@pv', '@pte', '@ud', '@mm', '@mmb', '@msh', '@shm', '@mun', '@mrm', '@sha', '@sdt', '@gfd', '@vsr', '@i32', '@mqo', '@mqs',
]);

/**
 * Decodes bpftrace `-f json` output, one line at a time, into canonical
 * events. Stateful only where the probe format needs it (strings waiting for
 * their record). Malformed or unknown lines are counted and reported through
 * `onIssue` with their line number; the lines around them are unaffected.
 */
export class ProbeDecoder {
  readonly stats: DecodeStats = {
    lines: 0, records: 0, events: 0, malformed: 0, blank: 0, lostEvents: 0, lossReports: 0, ticks: 0, bookkeepingDumps: 0, frames: 0, layoutsChecked: 0, layoutsWrong: 0, argsLate: 0,
  };
  private readonly ctx: DecodeContext;
  private lastTs = 0;
  /**
   * True while the event being handed to `emit` is one the probe held back by
   * design (IOD, RDCL, the @pr dump: a first read kept until the process' next
   * record). Such an event keeps its order within its process but may arrive
   * after later records of other processes; the reorder stage reads this flag,
   * synchronously, to count it apart from ordering faults. A flag rather than
   * a mark on the event: marking objects (a WeakSet) cost ~5% of the live
   * pipeline, and how an event travelled is not part of what happened.
   */
  emittingDeferred = false;
  /** Every record is parsed into this one object (decoders copy what they keep). */
  private readonly scratch: RawRecord = { kind: 'TICK', n: [], s: '', tsRaw: '' };
  /** The script's printf layouts, by id (none: no binary frames expected). */
  private layouts: readonly PrintfLayout[] = [];
  /** The layouts' readers, by printf id. */
  private readers: RecordReader[] = [];
  /**
   * One scratch record per printf id, its number array the layout's length:
   * a record shared by every id had its array cut and grown again between
   * records of different lengths (V8 reallocating its store).
   */
  private frameScratch: RawRecord[] = [];
  /** Per printf id: whether its layout was checked against bpftrace's text (Checked). */
  private checked = new Uint8Array(0);
  /** An echoed frame's record, read from its bytes, waiting for bpftrace's text of it (the next line). */
  private echo: { id: number; rec: RawRecord | string } | undefined;

  constructor(private readonly opts: ProbeDecoderOptions) {
    this.ctx = new DecodeContext(opts.monoEpochNs);
    if (opts.printfLayouts !== undefined) this.setPrintfLayouts(opts.printfLayouts);
  }

  /**
   * An exec event leaving the reorder stage: its arguments as they are now
   * that every record stamped before it has arrived (decode/exec-args.ts).
   * The live pipeline calls this; decoding alone gives the arguments that
   * had arrived when the exec record came.
   */
  completeExec(ev: EventOf<'process.exec'>): void {
    this.ctx.execArgs.complete(ev.old_tid, ev.ts, ev);
    this.stats.argsLate = this.ctx.execArgs.late;
  }

  /** The layouts binary frames are read with (the script bpftrace runs; see printfLayouts). */
  setPrintfLayouts(layouts: readonly PrintfLayout[]): void {
    this.layouts = layouts;
    this.readers = layouts.map(recordReader);
    this.frameScratch = layouts.map((l) => ({ kind: 'TICK', n: new Array<number>(l.nums.length).fill(0), s: '', tsRaw: '' }));
    this.checked = new Uint8Array(layouts.length);
  }

  /**
   * Decodes a run of whole frames (probes/binary-records.c: a tag byte, a
   * u32 length, the record's bytes), each a printf record read from its
   * bytes with the script's layouts. An echoed frame (the first of its
   * printf id) is only held: bpftrace's JSON line of the same record comes
   * next, is decoded as text, and the two readings are compared; an id whose
   * readings differ has its later frames reported as malformed, never
   * decoded with a layout known to be wrong.
   */
  decodeFrames(buf: Buffer, emit: (e: Event) => void): void {
    const layouts = this.layouts;
    let at = 0;
    while (at + FRAME_HEAD <= buf.length) {
      const tag = buf[at]!;
      const len = buf.readUInt32LE(at + 1);
      const from = at + FRAME_HEAD;
      at = from + len;
      this.stats.frames++;
      const no = this.stats.lines + this.stats.frames;
      if ((tag !== FRAME && tag !== FRAME_ECHOED) || at > buf.length || len < 8) {
        this.issue(no, 'not a whole binary record frame', buf.toString('latin1', from - FRAME_HEAD, Math.min(buf.length, from + 32)));
        return;
      }
      const id = buf.readUInt32LE(from + 4) === 0 ? buf.readUInt32LE(from) : -1;
      const layout = layouts[id];
      if (layout === undefined) {
        this.issue(no, `binary record of unknown printf id ${id} (${layouts.length === 0 ? 'no layouts given' : `${layouts.length} in the script`})`, '');
        continue;
      }
      if (tag === FRAME_ECHOED) {
        const rec = this.readers[id]!(buf, from, len, { kind: 'TICK', n: [], s: '', tsRaw: '' });
        this.echo = { id, rec };
        continue;
      }
      if (this.checked[id] === Checked.Wrong) {
        this.issue(no, `${layout.kind} (printf id ${id}): its layout disagreed with bpftrace's text, the record cannot be read`, '');
        continue;
      }
      const rec = this.readers[id]!(buf, from, len, this.frameScratch[id]!);
      if (typeof rec === 'string') {
        this.issue(no, rec, '');
        continue;
      }
      this.handleRecord(rec, emit);
    }
    if (at < buf.length) this.issue(this.stats.lines + this.stats.frames + 1, 'a binary record frame cut short', buf.toString('latin1', at, Math.min(buf.length, at + 32)));
  }

  /** bpftrace's text of an echoed frame's record: the two readings must agree. */
  private checkEcho(text: RawRecord, lineNo: number): void {
    const e = this.echo!;
    this.echo = undefined;
    const b = e.rec;
    const agrees =
      typeof b !== 'string' &&
      b.kind === text.kind &&
      b.s === text.s &&
      b.tsRaw === text.tsRaw &&
      b.n.length === text.n.length &&
      b.n.every((v, i) => Object.is(v, text.n[i]));
    this.stats.layoutsChecked++;
    this.checked[e.id] = agrees ? Checked.Agrees : Checked.Wrong;
    if (agrees) return;
    this.stats.layoutsWrong++;
    const bin = typeof b === 'string' ? b : `${b.kind} ${b.n.join(' ')} ${JSON.stringify(b.s)}`;
    this.issue(lineNo, `printf id ${e.id}: its bytes read as ${bin}, bpftrace printed ${text.kind} ${text.n.join(' ')} ${JSON.stringify(text.s)}; its later records are reported, not read`, '');
  }

  /** Decodes one output line; returns the events it yields (often one, sometimes none). */
  decodeLine(line: string, lineNo: number = this.stats.lines + 1): Event[] {
    const out: Event[] = [];
    this.decodeLineTo(line, lineNo, (e) => out.push(e));
    return out;
  }

  /** Decodes one output line, handing each event to `emit` (no array per line). */
  decodeLineTo(line: string, lineNo: number, emit: (e: Event) => void): void {
    this.decodeSpan(line, 0, line.length, lineNo, emit);
  }

  /**
   * Decodes whole lines as read from bpftrace's stdout (each ending in '\n';
   * a last one without it is decoded too), numbered on from the lines this
   * decoder has seen. The hot path: lines are parsed where they lie in
   * `text`, no string is cut out per line.
   */
  decodeText(text: string, emit: (e: Event) => void): void {
    const end = text.length;
    let from = 0;
    while (from < end) {
      let nl = text.indexOf('\n', from);
      if (nl < 0) nl = end;
      this.decodeSpan(text, from, nl, this.stats.lines + 1, emit);
      from = nl + 1;
    }
  }

  /** The line text[from, to). */
  private decodeSpan(text: string, from: number, to: number, lineNo: number, emit: (e: Event) => void): void {
    this.stats.lines++;
    if (to === from || (text.charCodeAt(from) <= 32 && text.slice(from, to).trim() === '')) {
      this.stats.blank++;
      return;
    }
    // fast path: a printf record parsed in its JSON-escaped form; one whose string holds escapes other than \t and \n
    // (rare: a path with a quote, a backslash, a control character) is handed to JSON.parse below
    if (
      to - from >= PRINTF_PREFIX.length + 2 &&
      text.startsWith(PRINTF_PREFIX, from) &&
      text.charCodeAt(to - 2) === QUOTE &&
      text.charCodeAt(to - 1) === CLOSE_BRACE &&
      this.decodeRecord(text, true, lineNo, emit, from + PRINTF_PREFIX.length, to - 2)
    ) {
      return;
    }
    const line = from === 0 && to === text.length ? text : text.slice(from, to);
    let msg: BpftraceJson;
    try {
      msg = JSON.parse(line) as BpftraceJson;
    } catch {
      this.issue(lineNo, 'not JSON', line);
      return;
    }
    if (msg === null || typeof msg !== 'object') {
      this.issue(lineNo, 'not a JSON object', line);
      return;
    }
    switch (msg.type) {
      case 'printf':
        if (typeof msg.data !== 'string') this.issue(lineNo, 'printf without string data', line);
        else this.decodeRecord(msg.data.includes(MANGLED_MARK) ? unmangle(msg.data) : msg.data, false, lineNo, emit);
        return;
      case 'lost_events': {
        const n = (msg.data as { events?: unknown } | null)?.events;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
          this.issue(lineNo, 'lost_events without a count', line);
          return;
        }
        this.stats.lostEvents += n;
        this.stats.lossReports++;
        this.out({ kind: 'loss', ts: this.lastTs, cgroup: 0, pid: 0, tid: 0, events: n, source: 'kernel' }, emit);
        return;
      }
      case 'attached_probes': {
        const n = (msg.data as { probes?: unknown } | null)?.probes;
        this.opts.onAttached?.(typeof n === 'number' ? n : 0);
        return;
      }
      case 'map':
        this.decodeMapDump(msg.data, lineNo, line, emit);
        return;
      default:
        this.issue(lineNo, `unknown bpftrace message type ${JSON.stringify(msg.type)}`, line);
    }
  }

  /**
   * One printf record, raw (`escaped` false) or still in its JSON-escaped form between `from` and `to`.
   * False only for an escaped record that needs the JSON parser or does not parse (nothing counted or emitted then).
   */
  private decodeRecord(data: string, escaped: boolean, lineNo: number, emit: (e: Event) => void, from = 0, to = data.length): boolean {
    const rec = parseRaw(data, escaped, from, to, this.scratch);
    // an escaped record that needs unescaping, or does not parse, goes the JSON way: same events, same report
    if (escaped && typeof rec === 'string') return false;
    if (typeof rec === 'string') {
      this.echo = undefined;
      this.issue(lineNo, rec, data.slice(from, to));
      return true;
    }
    if (this.echo !== undefined) this.checkEcho(rec, lineNo);
    this.handleRecord(rec, emit);
    return true;
  }

  /** A parsed record, from text or bytes. */
  private handleRecord(rec: RawRecord, emit: (e: Event) => void): void {
    this.stats.records++;
    if (rec.kind === 'HELLO' || rec.kind === 'TICK' || rec.kind === 'BYE') {
      if (rec.kind === 'TICK') {
        this.stats.ticks++;
        // io_uring opens whose path never came (lost, or submitted before the probe started): out with no path
        for (const ev of this.ctx.staleUringOpens(Math.max(this.lastTs, this.ctx.ts(rec)), URING_PATH_WAIT_NS)) this.outDeferred(ev, emit);
      }
      this.opts.onLiveness?.(rec.kind, BigInt(rec.tsRaw || rec.n[0]!), rec.n[1]);
      return;
    }
    if (rec.kind === 'RDCL') {
      decodeReadClose(rec, this.ctx, (ev) => this.outDeferred(ev, emit));
      return;
    }
    const ev = DECODERS[rec.kind](rec, this.ctx);
    if (ev === null) return;
    // a kept first read, or an io_uring open whose path came after it
    if (rec.kind === 'IOD' || rec.kind === 'UPATH') {
      this.outDeferred(ev, emit);
      return;
    }
    if (ev.ts > this.lastTs) this.lastTs = ev.ts;
    this.out(ev, emit);
  }

  /** An event the probe held back by design (see emittingDeferred). */
  private outDeferred(ev: Event, emit: (e: Event) => void): void {
    if (ev.ts > this.lastTs) this.lastTs = ev.ts;
    this.emittingDeferred = true;
    try {
      this.out(ev, emit);
    } finally {
      this.emittingDeferred = false;
    }
  }

  /**
   * At shutdown bpftrace prints the `@run` map: I/O runs still pending.
   * Key "tid,slot"; value (fd+1, nr, gen, first, last, bytes, calls, window, fd2+1, pid, cgroup, dev, ino, ino2).
   */
  private decodeMapDump(data: unknown, lineNo: number, line: string, emit: (e: Event) => void): void {
    const dump = (data ?? {}) as Record<string, unknown>;
    if (dump['@pr'] !== undefined) {
      this.decodePendingReads(dump['@pr'], lineNo, line, emit);
      return;
    }
    if (dump['@ptr'] !== undefined) {
      this.decodePendingPtrace(dump['@ptr'], lineNo, line, emit);
      return;
    }
    const runs = dump['@run'];
    if (runs === undefined) {
      // the probe's own bookkeeping maps: dumped at exit when END's clear() (an asynchronous
      // action through the perf buffer) was lost in an overload; they carry no events
      if (Object.keys(dump).length > 0 && Object.keys(dump).every((k) => PROBE_MAPS.has(k))) {
        this.stats.bookkeepingDumps++;
      } else {
        this.issue(lineNo, 'map dump of an unknown map', line);
      }
      return;
    }
    if (runs === null || typeof runs !== 'object') {
      this.issue(lineNo, '@run dump is not an object', line);
      return;
    }
    this.stats.records++;
    for (const [key, value] of Object.entries(runs as Record<string, unknown>)) {
      const [tidS, slotS] = key.split(',');
      const v = value as unknown[];
      if (!Array.isArray(v) || v.length < 11 || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) {
        this.issue(lineNo, `@run entry ${key} malformed`, line);
        continue;
      }
      const n = v as number[];
      const calls = n[6]!;
      if (calls <= 0) continue;
      const tid = Number(tidS);
      const slot = Number(slotS);
      const base = {
        ts: this.ctx.rel(String(n[4]!), n[4]!),
        cgroup: n[10]!,
        pid: n[9]!,
        tid,
        syscall: syscallName(n[1]!),
        bytes: n[5]!,
        calls,
        ts_first: this.ctx.rel(String(n[3]!), n[3]!),
      };
      if (slot === 2) {
        this.out({ ...base, kind: 'io.xfer', fd_in: int32(n[0]! - 1), fd_out: int32(n[8]! - 1), obj_in: null, obj_out: null }, emit);
      } else if (slot === 3 || slot === 4) {
        // an io_uring run (keyed by pid): on one object, no descriptor
        this.out({ ...base, kind: 'io', dir: slot === 3 ? 'in' : 'out', fd: -1, obj: v.length > 12 ? kernelObjId(n[11]!, n[12]!) : null }, emit);
      } else {
        this.out({ ...base, kind: 'io', dir: slot === 0 ? 'in' : 'out', fd: int32(n[0]! - 1), obj: null }, emit);
      }
    }
  }

  /**
   * At shutdown bpftrace prints `@pr`: first reads the probe still kept.
   * Key pid; value (ts, tid, nr, fd, bytes, dev, ino, cgroup).
   */
  private decodePendingReads(reads: unknown, lineNo: number, line: string, emit: (e: Event) => void): void {
    if (reads === null || typeof reads !== 'object') {
      this.issue(lineNo, '@pr dump is not an object', line);
      return;
    }
    this.stats.records++;
    for (const [key, value] of Object.entries(reads as Record<string, unknown>)) {
      const v = value as unknown[];
      if (!Array.isArray(v) || v.length < 8 || !v.every((x) => typeof x === 'number' && Number.isInteger(x)) || !/^\d+$/.test(key)) {
        this.issue(lineNo, `@pr entry ${key} malformed`, line);
        continue;
      }
      const n = v as number[];
      if (n[0] === 0) continue;
      this.outDeferred(firstCall(this.ctx.rel(String(n[0]!), n[0]!), n[7]!, Number(key), n[1]!, 'in', n[2]!, n[3]!, n[4]!, n[5]!, n[6]!), emit);
    }
  }

  /**
   * At shutdown bpftrace prints `@ptr`: runs of ptrace peeks or pokes whose
   * sum (the words after the first) was still pending.
   * Key tid; value (request+1, target, words after the first, first ts, last ts, pid, cgroup).
   */
  private decodePendingPtrace(runs: unknown, lineNo: number, line: string, emit: (e: Event) => void): void {
    if (runs === null || typeof runs !== 'object') {
      this.issue(lineNo, '@ptr dump is not an object', line);
      return;
    }
    this.stats.records++;
    for (const [key, value] of Object.entries(runs as Record<string, unknown>)) {
      const v = value as unknown[];
      if (!Array.isArray(v) || v.length < 7 || !v.every((x) => typeof x === 'number' && Number.isInteger(x)) || !/^\d+$/.test(key)) {
        this.issue(lineNo, `@ptr entry ${key} malformed`, line);
        continue;
      }
      const n = v as number[];
      if (n[2]! <= 0) continue;
      const ts = this.ctx.rel(String(n[4]!), n[4]!);
      this.out(ptraceEvent(ts, n[6]!, n[5]!, Number(key), n[0]! - 1, n[1]!, n[2]! * 8), emit);
    }
  }

  private out(ev: Event, emit: (e: Event) => void): void {
    this.stats.events++;
    emit(ev);
  }

  private issue(line: number, reason: string, text: string): void {
    this.stats.malformed++;
    this.opts.onIssue?.({ line, reason, excerpt: text.slice(0, 200) });
  }
}
