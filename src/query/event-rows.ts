import { z } from 'zod';
import { carriesResolution, Event as EventSchema, Family, ObjectType, type Event, type ObjectView } from '../schema/event.js';

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

/** The values a schema admits when it is a closed set (an enum, a literal, either optional). */
function closedSet(t: unknown): string[] {
  if (t instanceof z.ZodOptional) return closedSet(t.unwrap());
  if (t instanceof z.ZodEnum) return t.options.map(String);
  if (t instanceof z.ZodLiteral) return [...t.values].map(String);
  return [];
}

const sortedSet = (values: string[]): string[] => [...new Set(values)].sort();

/**
 * Columns whose values are a closed set the event schema names: the table
 * stores them as DuckDB ENUMs (DuckDB's advice for low-cardinality strings;
 * the load ~10% faster than VARCHAR, docs/benchmarks.md). Members sorted,
 * so they order as text does; they compare, LIKE and concatenate as text.
 * The spool still reads them as VARCHAR. A file made with fewer members (an
 * older chainwatch) is widened when opened (`DuckDbStore.open`).
 */
export const EVENT_ENUMS = {
  kind: sortedSet(EventSchema.options.flatMap((o) => closedSet(o.shape.kind))),
  dir: sortedSet(EventSchema.options.flatMap((o) => closedSet((o.shape as Record<string, unknown>)['dir']))),
  obj_type: sortedSet(ObjectType.options),
  family: sortedSet(Family.options),
} satisfies Partial<Record<keyof EventRow, string[]>>;

/** A DuckDB ENUM type of these members, written as DuckDB writes it back (duckdb_columns().data_type). */
export function enumType(members: readonly string[]): string {
  return `ENUM(${members.map((m) => `'${m.replaceAll("'", "''")}'`).join(', ')})`;
}

/** The events table's column types: the spool's, with the closed sets as ENUMs. */
export const EVENT_TABLE_TYPES: Record<keyof EventRow, string> = {
  ...EVENT_COLUMNS,
  ...Object.fromEntries(Object.entries(EVENT_ENUMS).map(([k, members]) => [k, enumType(members)])),
};

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

/** A VARCHAR cell: anything but a string is NULL. */
function text(v: unknown): string {
  if (typeof v !== 'string') return '\\N';
  if (v === '\\N' || NEEDS_QUOTE.test(v)) return `${ROW_QUOTE}${v.replaceAll(ROW_QUOTE, ROW_QUOTE + ROW_QUOTE)}${ROW_QUOTE}`;
  return v;
}

/** A number cell: anything but a number is NULL. */
function num(v: unknown): string {
  return typeof v === 'number' ? String(v) : '\\N';
}

/**
 * The row as one line for the loader's spool (see ROW_CSV_OPTIONS): the
 * columns, then the event as recorded (JSON; what the state resolved is in
 * the columns and the `processes` and `objects` tables).
 */
export function eventRowLine(trace: string, ev: Event): string {
  return eventRowPrefix(trace, ev) + recordedJson(ev);
}

/**
 * Every column of the row but the event, in EVENT_COLUMNS' order, each
 * followed by its tab: what the state resolved where it did (the process,
 * the object the event is about), the event's own field where it did not.
 * Written out column by column rather than through an object of the
 * columns read back by name (2.4× slower: a keyed load per column).
 */
export function eventRowPrefix(trace: string, ev: Event): string {
  const e = ev as Record<string, unknown>;
  const kind = ev.kind;
  const r = ev.res;
  // the object the event is about: the fd it names, the destination of a copy, or the fd it created
  const o: ObjectView | undefined = r === undefined ? undefined : (r.fd ?? r.fd_out ?? r.ret ?? r.listen_fd);
  const p = ev.proc;
  const own = typeof e.path === 'string' ? e.path : undefined;
  const path = ev.abs?.path ?? own ?? (kind === 'process.exec' ? ev.filename : kind === 'io.xfer' ? r?.fd_in?.path : o?.path);
  const peer = o?.peer;
  const connect = ev.kind === 'net.addr' && ev.op === 'connect';
  const fd = e.fd;
  const obj = o?.id ?? (typeof e.obj === 'string' ? e.obj : e.obj_out);
  return (
    `${text(trace)}\t${ev.ts}\t${kind}\t${ev.cgroup}\t${ev.pid}\t${ev.tid}\t` +
    `${text(p?.task)}\t${text(p?.comm ?? e.comm)}\t${text(p?.exe)}\t${num(p?.ppid ?? e.ppid)}\t` +
    `${text(e.syscall)}\t${text(e.dir)}\t${num(typeof fd === 'number' ? fd : e.fd_out)}\t${num(e.ret)}\t${num(e.bytes)}\t${num(e.calls)}\t` +
    `${text(path)}\t${text(obj)}\t${text(o?.type)}\t${text(o?.channel)}\t${text(o?.family ?? e.family)}\t` +
    `${text(peer?.addr ?? (connect ? (ev.addr ?? ev.path) : undefined))}\t${num(peer?.port ?? (connect ? ev.port : undefined))}\t`
  );
}

/** The event as the trace holds it: without what the state attached. */
export function recordedJson(ev: Event): string {
  if (!carriesResolution(ev)) return JSON.stringify(ev);
  const { res: _res, abs: _abs, proc: _proc, ...recorded } = ev;
  return JSON.stringify(recorded);
}
