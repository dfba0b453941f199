import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ChainwatchError } from '../util/errors.js';
import { moduleLog } from '../util/log.js';
import { EVENT_COLUMNS, EVENT_ENUMS, EVENT_TABLE_TYPES, enumType, ROW_CSV_OPTIONS } from './event-rows.js';

/**
 * The analyst's database: traces, their resolved events and their findings
 * in DuckDB (a file on disk, or in memory), with derived tables and views
 * for common questions. Rows arrive in bulk from files the loader wrote
 * (events as tab-separated rows, findings as JSON Lines), read by DuckDB's
 * own readers; never one INSERT per row.
 */

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const columnsSpec = (cols: Record<string, string>): string => `{${Object.entries(cols).map(([k, t]) => `${k}: ${sqlString(t)}`).join(', ')}}`;

export const FINDING_COLUMNS: Record<string, string> = {
  id: 'VARCHAR',
  time: 'VARCHAR',
  ts_ns: 'BIGINT',
  rule: 'VARCHAR',
  category: 'VARCHAR',
  severity: 'VARCHAR',
  task: 'VARCHAR',
  host: 'VARCHAR',
  process: 'JSON',
  source: 'JSON',
  sink: 'JSON',
  bytes_read: 'BIGINT',
  bytes_sent: 'BIGINT',
  latency_ms: 'DOUBLE',
  sends: 'BIGINT',
  chain: 'JSON',
  coverage: 'JSON',
  policy_hash: 'VARCHAR',
  summary: 'VARCHAR',
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS traces (
  trace VARCHAR PRIMARY KEY, host VARCHAR, kernel VARCHAR, start_time TIMESTAMPTZ,
  wall_epoch_ns BIGINT, scope JSON, header JSON, events BIGINT, cut VARCHAR, loaded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS events (
  ${Object.entries(EVENT_TABLE_TYPES).map(([k, t]) => `${k} ${t}${k === 'event' ? ' USING COMPRESSION zstd' : ''}`).join(', ')}, time TIMESTAMP_NS);
CREATE TABLE IF NOT EXISTS findings (
  trace VARCHAR, ${Object.entries(FINDING_COLUMNS).map(([k, t]) => `${k === 'time' ? 'time TIMESTAMPTZ' : `${k} ${t}`}`).join(', ')},
  pid INTEGER, comm VARCHAR, source_path VARCHAR, data_class VARCHAR, sink_address VARCHAR, sink_port INTEGER, args VARCHAR[]);
-- a database made before findings carried command lines
ALTER TABLE findings ADD COLUMN IF NOT EXISTS args VARCHAR[];
`;

/**
 * Tables derived from events and findings, each row of one trace: a load
 * remakes the rows of the traces it loaded, so loading into a database that
 * already holds many traces costs what the new ones hold. `where(column)`
 * is the filter on the trace column.
 */
const DERIVED_TABLES = {
  processes: (where: (column: string) => string) => `
  SELECT trace, pid, arg_max(ppid, ts) AS ppid, arg_max(comm, ts) AS comm, arg_max(exe, ts) AS exe, any_value(task) AS task,
         min(time) AS first_seen, max(time) AS last_seen, count(*) AS events,
         count(*) FILTER (kind = 'process.exec') AS execs,
         list(DISTINCT exe ORDER BY exe) FILTER (exe IS NOT NULL) AS exes,
         arg_max((event->'argv')::VARCHAR[], ts) FILTER (kind IN ('process.exec', 'snapshot.process')) AS args
  FROM events WHERE pid > 0 AND ${where('trace')} GROUP BY trace, pid`,
  objects: (where: (column: string) => string) => `
  SELECT trace, obj AS id, any_value(obj_type) AS type, arg_max(path, path IS NOT NULL) AS path,
         any_value(family) AS family, arg_max(peer_addr, peer_addr IS NOT NULL) AS peer_addr, arg_max(peer_port, peer_port IS NOT NULL) AS peer_port,
         any_value(channel) AS channel, min(time) AS first_seen, max(time) AS last_seen,
         coalesce(sum(bytes) FILTER (dir = 'in'), 0) AS bytes_in,
         coalesce(sum(bytes) FILTER (dir = 'out' OR kind = 'io.xfer'), 0) AS bytes_out,
         list(DISTINCT pid ORDER BY pid) AS pids
  FROM events WHERE obj IS NOT NULL AND ${where('trace')} GROUP BY trace, obj`,
  chain_hops: (where: (column: string) => string) => `
  SELECT f.trace, f.id AS finding_id, h.hop, h.value->>'comm' AS comm, (h.value->>'pid')::INTEGER AS pid,
         h.value->>'syscall' AS syscall, (h.value->>'fd')::INTEGER AS fd, h.value->>'object' AS object,
         (h.value->>'ts_ns')::BIGINT AS ts_ns, (h.value->>'bytes')::BIGINT AS bytes
  FROM findings f, LATERAL (SELECT generate_subscripts(json_extract(f.chain, '$[*]'), 1) AS hop, unnest(json_extract(f.chain, '$[*]')) AS value) h
  WHERE ${where('f.trace')}`,
};

/** Views over the tables, made anew after every load. */
const VIEWS = `
CREATE OR REPLACE VIEW top_destinations AS
  SELECT trace, task, peer_addr, peer_port, family, count(DISTINCT obj) AS sockets, sum(bytes) AS bytes_out, sum(calls) AS sends,
         min(time) AS first_send, max(time) AS last_send
  FROM events WHERE obj_type = 'socket' AND (dir = 'out' OR kind = 'io.xfer') AND bytes > 0
  GROUP BY ALL ORDER BY bytes_out DESC;
CREATE OR REPLACE VIEW bytes_out_per_minute AS
  SELECT trace, task, date_trunc('minute', time) AS minute, sum(bytes) AS bytes_out, sum(calls) AS sends
  FROM events WHERE obj_type = 'socket' AND (dir = 'out' OR kind = 'io.xfer') AND bytes > 0
  GROUP BY ALL ORDER BY minute, task;
CREATE OR REPLACE VIEW finding_hops AS
  SELECT f.trace, f.id AS finding_id, f.rule, f.task, f.severity, h.hop, h.pid, h.comm, h.syscall, h.fd, h.object, h.bytes,
         make_timestamp_ns(t.wall_epoch_ns + h.ts_ns) AS time
  FROM findings f JOIN chain_hops h ON h.finding_id = f.id AND h.trace = f.trace LEFT JOIN traces t ON t.trace = f.trace
  ORDER BY f.trace, f.id, h.hop;
`;

/**
 * The storage format a new database file is written in. Files in DuckDB's
 * default (v1.0-compatible) format compress the event column with FSST and
 * short strings with dictionaries; from v1.3.0 short strings get DICT_FSST
 * and the event column ZSTD (`USING COMPRESSION zstd` above): a third faster
 * to load and 40% smaller (docs/benchmarks.md). Such a file opens in DuckDB
 * 1.3.0 and later. An existing file keeps the format it was made in (an
 * older one stores a new table's event column uncompressed).
 */
const STORAGE_VERSION = 'v1.3.0';

export interface TraceInfo {
  trace: string;
  host: string;
  kernel: string;
  startTime: string;
  wallEpochNs: string;
  scope: unknown;
  header: unknown;
  events: number;
  cut: string | null;
}

const log = moduleLog('query/duckdb-store');

/**
 * An events table made by another chainwatch may have an ENUM column with
 * fewer members than this one writes (a kind added since): it is widened to
 * both sets, sorted, so every value it holds stays and every new one loads.
 * A column made as VARCHAR (before ENUMs) stays VARCHAR, and one with all
 * our members and more (a newer chainwatch's) is left alone.
 */
async function widenEnums(conn: DuckDBConnection): Promise<void> {
  const columns = Object.keys(EVENT_ENUMS);
  const r = await conn.runAndReadAll(
    `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = 'events' AND column_name IN (${columns.map((c) => `'${c}'`).join(', ')})`,
  );
  const types = new Map(r.getRowObjectsJson().map((x) => [x['column_name'], x['data_type']]));
  for (const [column, ours] of Object.entries(EVENT_ENUMS)) {
    const type = types.get(column);
    if (typeof type !== 'string' || !type.startsWith('ENUM(') || type === enumType(ours)) continue;
    const theirs = (await conn.runAndReadAll(`SELECT unnest(enum_range(NULL::${type})) AS m`)).getRowObjectsJson().map((x) => String(x['m']));
    const both = [...new Set([...theirs, ...ours])].sort();
    if (both.length <= theirs.length) continue;
    log.info({ column, members_before: theirs.length, members: both.length, added: both.filter((m) => !theirs.includes(m)) }, 'widening an events column made by another chainwatch: its rows are rewritten once');
    await conn.run(`ALTER TABLE events ALTER ${column} TYPE ${enumType(both)}`);
  }
}

export class DuckDbStore {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
    readonly path: string,
  ) {}

  /** Opens (creating) the database file, or an in-memory database for `:memory:`. */
  static async open(path = ':memory:'): Promise<DuckDbStore> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, { storage_compatibility_version: STORAGE_VERSION });
    } catch (e) {
      throw new ChainwatchError('IO', `cannot open DuckDB database: ${(e as Error).message}`, { where: path, fix: 'name a writable file (created if missing), or omit it for an in-memory database' });
    }
    const conn = await instance.connect();
    await conn.run(SCHEMA);
    await widenEnums(conn);
    return new DuckDbStore(instance, conn, path);
  }

  /** Bulk-loads one trace: its resolved events (rows as `eventRowLine` writes them) and findings (JSON Lines) from files the loader wrote. Returns rows loaded. */
  async loadTrace(info: TraceInfo, eventsFile: string, findingsFile: string | undefined): Promise<{ events: number; findings: number }> {
    const c = this.conn;
    await c.run('BEGIN TRANSACTION');
    try {
      // loading a trace again replaces it
      for (const t of ['events', 'findings', 'traces']) await c.run(`DELETE FROM ${t} WHERE trace = $1`, [info.trace]);
      await c.run(
        `INSERT INTO traces VALUES ($trace, $host, $kernel, $start::TIMESTAMPTZ, $epoch::BIGINT, $scope::JSON, $header::JSON, $events, $cut, now())`,
        {
          trace: info.trace,
          host: info.host,
          kernel: info.kernel,
          start: info.startTime,
          epoch: info.wallEpochNs,
          scope: JSON.stringify(info.scope),
          header: JSON.stringify(info.header),
          events: info.events,
          cut: info.cut,
        },
      );
      // both cores read and write the rows, in any order (SQL gives rows in no order without ORDER BY; every view orders)
      await c.run('SET preserve_insertion_order = false');
      // each row group is written out as soon as it is full: less memory held (and faulted in) for the same rows
      await c.run('SET write_buffer_row_group_count = 1');
      let ev;
      try {
        ev = await c.run(
          `INSERT INTO events BY NAME SELECT *, make_timestamp_ns(${BigInt(info.wallEpochNs)}::BIGINT + ts) AS time
           FROM read_csv(${sqlString(eventsFile)}, ${ROW_CSV_OPTIONS}, columns = ${columnsSpec(EVENT_COLUMNS)})`,
        );
      } finally {
        // the connection's later statements (other loads, queries) keep DuckDB's default
        await c.run('RESET preserve_insertion_order');
        await c.run('RESET write_buffer_row_group_count');
      }
      let findings = 0;
      if (findingsFile !== undefined) findings = await this.loadFindings(info.trace, findingsFile);
      await c.run('COMMIT');
      return { events: Number(ev.rowsChanged), findings };
    } catch (e) {
      await c.run('ROLLBACK');
      throw new ChainwatchError('IO', `loading into DuckDB failed: ${(e as Error).message}`, { where: `${this.path} (trace ${info.trace})`, fix: 'check the database file is not open in another process and the disk has room' });
    }
  }

  /** Findings (JSON Lines) attributed to `trace`; the last report of each finding id wins. */
  async loadFindings(trace: string, file: string): Promise<number> {
    const r = await this.conn.run(
      `INSERT INTO findings BY NAME
       SELECT $1 AS trace, * EXCLUDE (time), time::TIMESTAMPTZ AS time,
              (process->>'pid')::INTEGER AS pid, process->>'comm' AS comm, source->>'path' AS source_path,
              source->>'data_class' AS data_class, sink->>'address' AS sink_address, (sink->>'port')::INTEGER AS sink_port,
              (process->'args')::VARCHAR[] AS args
       FROM (SELECT * FROM read_json(${sqlString(file)}, format = 'newline_delimited', columns = ${columnsSpec(FINDING_COLUMNS)})
             QUALIFY row_number() OVER (PARTITION BY id ORDER BY sends DESC, bytes_sent DESC) = 1)`,
      [trace],
    );
    return Number(r.rowsChanged);
  }

  /** Findings printed elsewhere (`load --findings FILE`, checked by then), attributed to `name`: loading the same name again replaces them. */
  async replaceFindings(name: string, file: string): Promise<number> {
    const c = this.conn;
    await c.run('BEGIN TRANSACTION');
    try {
      await c.run('DELETE FROM findings WHERE trace = $1', [name]);
      const n = await this.loadFindings(name, file);
      await c.run('COMMIT');
      return n;
    } catch (e) {
      await c.run('ROLLBACK');
      throw new ChainwatchError('IO', `loading findings into DuckDB failed: ${(e as Error).message}`, { where: `${this.path} (findings ${file})`, fix: 'check the database file is not open in another process and the disk has room' });
    }
  }

  /**
   * Remakes the derived tables' rows of `traces` (all of them when not
   * given) and the views. A table that is missing, or whose columns differ
   * from what this chainwatch makes (a file from another version, an ENUM
   * widened since), is remade whole.
   */
  async derive(traces?: readonly string[]): Promise<void> {
    const c = this.conn;
    const r = await c.runAndReadAll(
      `SELECT table_name, list(column_name || ' ' || data_type ORDER BY column_index) AS columns FROM duckdb_columns()
       WHERE schema_name = 'main' AND table_name IN (${Object.keys(DERIVED_TABLES).map(sqlString).join(', ')}) GROUP BY table_name`,
    );
    const have = new Map(r.getRowObjectsJson().map((x) => [x['table_name'], JSON.stringify(x['columns'])]));
    const all = (): string => 'true';
    const these = traces === undefined ? all : (column: string): string => (traces.length === 0 ? 'false' : `${column} IN (${traces.map(sqlString).join(', ')})`);
    await c.run('BEGIN TRANSACTION');
    try {
      for (const [table, select] of Object.entries(DERIVED_TABLES)) {
        const made = await c.runAndReadAll(`DESCRIBE ${select(all)}`);
        const wanted = JSON.stringify(made.getRowObjectsJson().map((x) => `${String(x['column_name'])} ${String(x['column_type'])}`));
        if (traces === undefined || have.get(table) !== wanted) {
          await c.run(`CREATE OR REPLACE TABLE ${table} AS ${select(all)}`);
        } else {
          await c.run(`DELETE FROM ${table} WHERE ${these('trace')}`);
          await c.run(`INSERT INTO ${table} ${select(these)}`);
        }
      }
      await c.run(VIEWS);
      await c.run('COMMIT');
    } catch (e) {
      await c.run('ROLLBACK');
      throw e;
    }
  }

  /** Runs SQL; the result of the last statement as rows, with column names and types. */
  async query(sql: string): Promise<{ columns: string[]; types: string[]; rows: Record<string, unknown>[] }> {
    let reader;
    try {
      reader = await this.conn.runAndReadAll(sql);
    } catch (e) {
      throw new ChainwatchError('QUERY_INVALID', (e as Error).message.split('\n')[0]!, {
        where: 'SQL',
        fix: 'tables: traces, events, processes, objects, findings, chain_hops; views: top_destinations, bytes_out_per_minute, finding_hops (docs/query.md)',
      });
    }
    return { columns: reader.columnNames(), types: reader.columnTypes().map(String), rows: reader.getRowObjectsJson() as Record<string, unknown>[] };
  }

  /** Writes every table as Parquet (plus the schema) into `dir`: DuckDB's EXPORT DATABASE. */
  async exportParquet(dir: string): Promise<void> {
    try {
      await this.conn.run(`EXPORT DATABASE ${sqlString(dir)} (FORMAT parquet)`);
    } catch (e) {
      throw new ChainwatchError('OUTPUT_FAILED', `cannot export the tables as Parquet: ${(e as Error).message.split('\n')[0]!}`, { where: dir, fix: 'name a folder this user can create or write into, on a disk with room' });
    }
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
