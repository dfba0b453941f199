import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { loadTraces, type LoadOptions } from '../../pipeline/load-session.js';
import { DuckDbStore } from '../../query/duckdb-store.js';
import { normaliseRows, toCsv, toJsonLines, toTable } from '../../query/format-rows.js';
import { ChainwatchError } from '../../util/errors.js';
import { moduleLog } from '../../util/log.js';
import { TraceProgress } from '../trace-progress.js';

const log = moduleLog('cli/sql');
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** A load's progress shown on a bar (each trace read, then its rows going into DuckDB); the bar ends with the last trace's rows in. */
function progressHooks(progress: TraceProgress): Pick<LoadOptions, 'onTraceStart' | 'onFinding' | 'onDuckDbLoad' | 'onLoaded'> {
  return {
    onTraceStart: (stats) => progress.traceStart(stats),
    onFinding: () => progress.finding(),
    onDuckDbLoad: (trace, rows) => progress.phase(`${rows.toLocaleString('en')} rows of ${trace} into DuckDB…`),
    onLoaded: () => progress.stop(),
  };
}

export function loadCommand(): Command {
  return new Command('load')
    .summary('load traces (and findings) into a DuckDB database for SQL')
    .description(
      'Replays each trace through the same pipeline as watch (resolving processes and objects,\n' +
        'computing findings) and bulk-loads events and findings into DB (created if missing;\n' +
        'loading a trace again replaces it). Then query it with `chainwatch query DB SQL`.',
    )
    .argument('<db>', 'DuckDB database file')
    .argument('<trace...>', 'traces recorded by watch --record (plain, .gz, .zst)')
    .option('--findings <file>', 'also load these findings (JSON Lines, e.g. what watch printed); repeatable', collect)
    .option('--rules <dir>', 'rules folder for the replay (default: the installed rules/)')
    .option('--no-progress', 'no progress bar (it is only drawn when stderr is a terminal)')
    .action(async (db: string, traces: string[], opts: { findings?: string[]; rules?: string; progress?: boolean }) => {
      const progress = new TraceProgress(opts.progress !== false && process.stderr.isTTY === true);
      let s;
      try {
        s = await loadTraces({
          db,
          traces,
          ...(opts.findings && { findings: opts.findings }),
          ...(opts.rules !== undefined && { rulesDir: opts.rules }),
          ...progressHooks(progress),
        });
      } finally {
        progress.stop();
      }
      const events = s.traces.reduce((n, t) => n + t.events, 0);
      const loadMs = s.traces.reduce((n, t) => n + t.loadMs, 0);
      log.info({ db, traces: s.traces.length, events, findings: s.traces.reduce((n, t) => n + t.findings, 0) + s.extraFindings, load_rows_per_s: loadMs > 0 ? Math.round(events / (loadMs / 1000)) : null }, 'loaded');
    });
}

export function queryCommand(): Command {
  return new Command('query')
    .summary('SQL over loaded traces and findings (DuckDB)')
    .description(
      'chainwatch query DB SQL           query a database made by `chainwatch load`\n' +
        "chainwatch query --load T SQL     load traces into an in-memory database, then query\n\n" +
        'Tables: traces, events, processes, objects, findings, chain_hops.\n' +
        'Views: top_destinations, bytes_out_per_minute, finding_hops. See docs/query.md.\n' +
        'Output: an aligned table, or --json (JSON Lines) / --csv for scripts.',
    )
    .argument('<args...>', '[DB] SQL')
    .option('--load <trace>', 'load this trace first (repeatable)', collect)
    .option('--json', 'JSON Lines, one object per row')
    .option('--csv', 'CSV with a header row (RFC 4180)')
    .option('--parquet <dir>', 'also export every table as Parquet into DIR (EXPORT DATABASE)')
    .option('--no-progress', 'no progress bar for --load (it is only drawn when stderr is a terminal)')
    .action(async (args: string[], opts: { load?: string[]; json?: boolean; csv?: boolean; parquet?: string; progress?: boolean }) => {
      if (args.length > 2) throw new ChainwatchError('USAGE', 'too many arguments: quote the SQL as one argument', { fix: `chainwatch query DB 'SELECT …'` });
      if (opts.json && opts.csv) throw new ChainwatchError('USAGE', '--json and --csv exclude each other', { fix: 'choose one' });
      // one argument: SQL on an in-memory database, unless it names a database file to export
      const dbOnly = args.length === 1 && opts.parquet !== undefined && existsSync(args[0]!);
      const db = args.length === 2 || dbOnly ? args[0]! : ':memory:';
      const sql = args.length === 2 ? args[1] : dbOnly ? undefined : args[0];
      if (db !== ':memory:' && !existsSync(db) && !opts.load) throw new ChainwatchError('USAGE', `no database ${db}`, { where: db, fix: `make one with chainwatch load ${db} TRACE…, or query --load TRACE 'SQL' in memory` });
      const store = await DuckDbStore.open(db);
      const progress = new TraceProgress(opts.load !== undefined && opts.progress !== false && process.stderr.isTTY === true);
      try {
        if (opts.load) await loadTraces({ traces: opts.load, ...progressHooks(progress) }, store);
        if (sql !== undefined) {
          const r = await store.query(sql);
          const rows = normaliseRows(r.rows, r.columns, r.types);
          process.stdout.write(opts.json ? toJsonLines(rows) : opts.csv ? toCsv(rows, r.columns) : toTable(rows, r.columns));
        }
        if (opts.parquet !== undefined) {
          await store.exportParquet(opts.parquet);
          log.info({ dir: opts.parquet }, 'exported every table as Parquet');
        }
      } finally {
        progress.stop();
        store.close();
      }
    });
}
