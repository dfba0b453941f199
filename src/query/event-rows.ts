import type { Event, ObjectView } from '../schema/event.js';

/**
 * One row of the `events` table: the columns analysts filter and group by,
 * flattened from a resolved event, plus the event as recorded (JSON). The
 * column list in `EVENT_COLUMNS` is the single description of this shape
 * (DuckDB reads the rows with exactly these types).
 */
export interface EventRow {
  trace: string;
  ts: number;
  kind: string;
  cgroup: number;
  pid: number;
  tid: number;
  task: string | null;
  comm: string | null;
  exe: string | null;
  ppid: number | null;
  syscall: string | null;
  dir: string | null;
  fd: number | null;
  ret: number | null;
  bytes: number | null;
  calls: number | null;
  path: string | null;
  obj: string | null;
  obj_type: string | null;
  channel: string | null;
  family: string | null;
  peer_addr: string | null;
  peer_port: number | null;
  /** The event as recorded (JSON text, `recordedJson`). */
  event: string;
}

export const EVENT_COLUMNS: Record<keyof EventRow, string> = {
  trace: 'VARCHAR',
  ts: 'BIGINT',
  kind: 'VARCHAR',
  cgroup: 'UBIGINT',
  pid: 'INTEGER',
  tid: 'INTEGER',
  task: 'VARCHAR',
  comm: 'VARCHAR',
  exe: 'VARCHAR',
  ppid: 'INTEGER',
  syscall: 'VARCHAR',
  dir: 'VARCHAR',
  fd: 'INTEGER',
  ret: 'BIGINT',
  bytes: 'BIGINT',
  calls: 'BIGINT',
  path: 'VARCHAR',
  obj: 'VARCHAR',
  obj_type: 'VARCHAR',
  channel: 'VARCHAR',
  family: 'VARCHAR',
  peer_addr: 'VARCHAR',
  peer_port: 'INTEGER',
  // the event as recorded, JSON text; DuckDB's JSON functions (->>, json_extract) read it as is, and VARCHAR loads twice as fast as JSON
  event: 'VARCHAR',
};

type Loose = Record<string, unknown>;

/** The object the event is about: the fd it names, the destination of a copy, or the fd it created. */
function primaryOf(ev: Event): ObjectView | undefined {
  const r = ev.res;
  if (r === undefined) return undefined;
  return r.fd ?? r.fd_out ?? r.ret ?? r.listen_fd;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** The column order of a spooled row (EVENT_COLUMNS' order; `event` last). */
const COLUMN_KEYS = Object.keys(EVENT_COLUMNS).filter((k) => k !== 'event') as (keyof Omit<EventRow, 'event'>)[];

/**
 * How the loader spools rows for DuckDB's CSV reader: tab-separated, `\N`
 * for NULL, and a value that holds a tab, a line break or the quote is
 * quoted with the byte 0x01 (doubled inside), as is a string
 * that reads `\N`. JSON text never needs quoting (JSON.stringify escapes
 * every control character), so the event, the longest value, is written
 * as it is. `ROW_CSV_OPTIONS` tells DuckDB exactly this.
 */
const ROW_QUOTE = '\x01';
export const ROW_CSV_OPTIONS = "delim = '\t', quote = chr(1), escape = chr(1), header = false, nullstr = '\\N', allow_quoted_nulls = false, new_line = '\\n', auto_detect = false";
const NEEDS_QUOTE = /[\t\n\r\x01]/;

function cell(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  if (v === '\\N' || NEEDS_QUOTE.test(v)) return `${ROW_QUOTE}${v.replaceAll(ROW_QUOTE, ROW_QUOTE + ROW_QUOTE)}${ROW_QUOTE}`;
  return v;
}

/**
 * The row as one line for the loader's spool (see ROW_CSV_OPTIONS): the
 * columns, then the event as recorded (JSON; what the state resolved is in
 * the columns and the `processes` and `objects` tables).
 */
export function eventRowLine(trace: string, ev: Event): string {
  const cols = eventColumns(trace, ev);
  const cells: string[] = [];
  for (const k of COLUMN_KEYS) cells.push(cell(cols[k]));
  cells.push(recordedJson(ev));
  // one flat string (a chain of += would be flattened again when the spool joins its lines)
  return cells.join('\t');
}

/** The event as the trace holds it: without what the state attached. */
export function recordedJson(ev: Event): string {
  if (ev.res === undefined && ev.abs === undefined && ev.proc === undefined) return JSON.stringify(ev);
  const { res: _res, abs: _abs, proc: _proc, ...recorded } = ev;
  return JSON.stringify(recorded);
}

function eventColumns(trace: string, ev: Event): Omit<EventRow, 'event'> {
  const e = ev as Loose;
  const o = primaryOf(ev);
  const path =
    ev.abs?.path ?? str(e.path) ?? (ev.kind === 'process.exec' ? ev.filename : ev.kind === 'io.xfer' ? ev.res?.fd_in?.path : o?.path) ?? null;
  const peer = o?.peer;
  return {
    trace,
    ts: ev.ts,
    kind: ev.kind,
    cgroup: ev.cgroup,
    pid: ev.pid,
    tid: ev.tid,
    task: ev.proc?.task ?? null,
    comm: ev.proc?.comm ?? str(e.comm),
    exe: ev.proc?.exe ?? null,
    ppid: ev.proc?.ppid ?? num(e.ppid),
    syscall: str(e.syscall),
    dir: str(e.dir),
    fd: num(e.fd) ?? num(e.fd_out),
    ret: num(e.ret),
    bytes: num(e.bytes),
    calls: num(e.calls),
    path,
    obj: o?.id ?? str(e.obj) ?? str(e.obj_out),
    obj_type: o?.type ?? null,
    channel: o?.channel ?? null,
    family: o?.family ?? str(e.family),
    peer_addr: peer?.addr ?? (ev.kind === 'net.addr' && ev.op === 'connect' ? (ev.addr ?? ev.path ?? null) : null),
    peer_port: peer?.port ?? (ev.kind === 'net.addr' && ev.op === 'connect' ? (ev.port ?? null) : null),
  };
}
