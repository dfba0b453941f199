import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DuckDbStore } from '../query/duckdb-store.js';
import { eventRowLine, eventRowPrefix } from '../query/event-rows.js';
import { readFindingsFile } from '../source/findings-file.js';
import { RecordedLine } from '../source/recorded-lines.js';
import { traceFileSize } from '../source/trace-parser.js';
import { LineSpool } from '../util/line-spool.js';
import { moduleLog } from '../util/log.js';
import { runReplay } from './replay-session.js';
import type { TraceReadStats } from '../source/trace-reader.js';
import type { Finding } from '../schema/finding.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { ChainwatchError } from '../util/errors.js';

const log = moduleLog('pipeline/load-session');

export interface LoadOptions {
  db?: string;
  traces: string[];
  /** More findings (JSON Lines, e.g. what watch printed) to load beside the replayed ones. */
  findings?: string[];
  rulesDir?: string;
  /** The stats of the trace being read (a progress display), each finding, and each trace's rows going into DuckDB. */
  onTraceStart?: (stats: TraceReadStats) => void;
  onFinding?: (f: Finding) => void;
  onDuckDbLoad?: (trace: string, rows: number) => void;
  /** Called once every row is in (before any error the load then reports). */
  onLoaded?: () => void;
}

interface Spooled {
  trace: string;
  header: TraceHeader;
  events: LineSpool;
  findings: LineSpool;
}

export interface LoadSummary {
  traces: { trace: string; events: number; findings: number; replayMs: number; loadMs: number; cut?: string }[];
  extraFindings: number;
}

/**
 * Loads traces into DuckDB: the traces are replayed through the same
 * pipeline as `watch` (so events carry their resolved processes and objects,
 * and the findings are computed; consecutive segments of one rotated
 * recording as one stream, as `replay` does), each trace's rows spooled
 * (events tab-separated, findings as JSON Lines), then bulk-read by
 * DuckDB. A finding belongs to the trace being read when it was made.
 */
export async function loadTraces(o: LoadOptions, store?: DuckDbStore): Promise<LoadSummary> {
  // a missing trace or a bad findings file is reported before anything is read or a database made
  for (const t of o.traces) traceFileSize(t);
  for (const f of o.findings ?? []) readFindingsFile(f);
  const db = store ?? (await DuckDbStore.open(o.db));
  const tmp = mkdtempSync(join(tmpdir(), 'cw-load-'));
  const summary: LoadSummary = { traces: [], extraFindings: 0 };
  try {
    const spools = new Map<string, Spooled>();
    let current: Spooled | undefined;
    const t0 = performance.now();
    // each event's line as the trace holds it: the row's event column without a JSON.stringify of every event
    const line = new RecordedLine();
    let replayed: { file: string; elapsedMs: number; cut?: string }[];
    // a bad line stops the replay: what was read before it is loaded (its trace marked cut there), then the error is reported
    let stoppedBy: ChainwatchError | undefined;
    try {
      replayed = (await runReplay({
        recordedLine: line,
        traces: o.traces,
        ...(o.rulesDir !== undefined && { rulesDir: o.rulesDir }),
        onTraceStart: (stats, header) => {
          o.onTraceStart?.(stats);
          const i = spools.size;
          current = { trace: basename(stats.file), header, events: new LineSpool(join(tmp, `events-${i}.tsv`)), findings: new LineSpool(join(tmp, `findings-${i}.jsonl`)) };
          spools.set(stats.file, current);
        },
        onEvent: (ev) => {
          const { trace, events } = current!;
          if (line.ev === ev) events.addJoined(eventRowPrefix(trace, ev), line.bytes, line.start, line.end);
          else events.add(eventRowLine(trace, ev));
        },
        onFinding: (f) => {
          current!.findings.add(JSON.stringify(f));
          o.onFinding?.(f);
        },
      })).map((r) => ({ file: r.file, elapsedMs: r.elapsedMs, ...(r.cut && { cut: `after line ${r.cut.lastWholeLine}: ${r.cut.reason}` }) }));
    } catch (e) {
      if (!(e instanceof ChainwatchError) || e.code !== 'TRACE_INVALID') throw e;
      stoppedBy = e;
      const elapsedMs = performance.now() - t0;
      // every trace begun: the last one is where the bad line is
      replayed = [...spools.keys()].map((file, i, all) => ({ file, elapsedMs, ...(i === all.length - 1 && { cut: `stopped at ${e.where ?? 'a bad line'}: ${e.message}` }) }));
    }
    const replayMs = performance.now() - t0;
    for (const s of replayed) {
      const sp = spools.get(s.file)!;
      sp.events.close();
      sp.findings.close();
      o.onDuckDbLoad?.(sp.trace, sp.events.lines);
      const t1 = performance.now();
      const h = sp.header;
      const loaded = await db.loadTrace(
        {
          trace: sp.trace,
          host: h.host,
          kernel: h.kernel,
          startTime: h.start_time,
          wallEpochNs: h.wall_epoch_ns,
          scope: h.scope,
          header: h,
          // a continuing segment's state events were not replayed again: the rows are what the stream had
          events: sp.events.lines,
          cut: s.cut ?? null,
        },
        sp.events.file,
        sp.findings.lines > 0 ? sp.findings.file : undefined,
      );
      const loadMs = performance.now() - t1;
      log.info({ trace: sp.trace, events: loaded.events, findings: loaded.findings, load_ms: Math.round(loadMs) }, 'trace loaded');
      summary.traces.push({ trace: sp.trace, events: loaded.events, findings: loaded.findings, replayMs: s.elapsedMs, loadMs, ...(s.cut !== undefined && { cut: s.cut }) });
      rmSync(sp.events.file, { force: true });
    }
    log.info({ traces: replayed.length, replay_ms: Math.round(replayMs) }, 'traces replayed for loading');
    for (const f of o.findings ?? []) summary.extraFindings += await db.replaceFindings(basename(f), f);
    // the derived tables' rows of what this load wrote; other traces' rows stay as they are
    await db.derive([...summary.traces.map((t) => t.trace), ...(o.findings ?? []).map((f) => basename(f))]);
    o.onLoaded?.();
    if (stoppedBy !== undefined) {
      log.warn({ loaded: summary.traces.map((t) => ({ trace: t.trace, events: t.events, ...(t.cut !== undefined && { cut: t.cut }) })), not_read: o.traces.filter((t) => !spools.has(t)) }, 'a bad line stopped the load: everything before it is loaded');
      throw stoppedBy;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    if (store === undefined) db.close();
  }
  return summary;
}
