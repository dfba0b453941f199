import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DuckDbStore } from '../query/duckdb-store.js';
import { eventRow } from '../query/event-rows.js';
import { moduleLog } from '../util/log.js';
import { runReplay } from './replay-session.js';

const log = moduleLog('pipeline/load-session');

/** Appends lines to a file in 1 MiB writes (synchronous: the pipeline is, and memory stays flat). */
class LineSpool {
  private buf: string[] = [];
  private size = 0;
  private readonly fd: number;
  lines = 0;
  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }
  add(line: string): void {
    this.buf.push(line);
    this.size += line.length + 1;
    this.lines++;
    if (this.size > 1 << 20) this.flush();
  }
  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, `${this.buf.join('\n')}\n`);
    this.buf = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export interface LoadOptions {
  db?: string;
  traces: string[];
  /** More findings (JSON Lines, e.g. what watch printed) to load beside the replayed ones. */
  findings?: string[];
  rulesDir?: string;
}

export interface LoadSummary {
  traces: { trace: string; events: number; findings: number; replayMs: number; loadMs: number; cut?: string }[];
  extraFindings: number;
}

/**
 * Loads traces into DuckDB: each trace is replayed through the same pipeline
 * as `watch` (so events carry their resolved processes and objects, and the
 * findings are computed), spooled as JSON Lines, then bulk-read by DuckDB.
 */
export async function loadTraces(o: LoadOptions, store?: DuckDbStore): Promise<LoadSummary> {
  const db = store ?? (await DuckDbStore.open(o.db));
  const tmp = mkdtempSync(join(tmpdir(), 'cw-load-'));
  const summary: LoadSummary = { traces: [], extraFindings: 0 };
  try {
    for (const [i, file] of o.traces.entries()) {
      const trace = basename(file);
      const events = new LineSpool(join(tmp, `events-${i}.jsonl`));
      const findings = new LineSpool(join(tmp, `findings-${i}.jsonl`));
      const t0 = performance.now();
      const [s] = await runReplay({
        traces: [file],
        ...(o.rulesDir !== undefined && { rulesDir: o.rulesDir }),
        onEvent: (ev) => events.add(JSON.stringify(eventRow(trace, ev))),
        onFinding: (f) => findings.add(JSON.stringify(f)),
      });
      events.close();
      findings.close();
      const t1 = performance.now();
      const h = s!.header;
      const loaded = await db.loadTrace(
        {
          trace,
          host: h.host,
          kernel: h.kernel,
          startTime: h.start_time,
          wallEpochNs: h.wall_epoch_ns,
          scope: h.scope,
          header: h,
          events: s!.events,
          cut: s!.cut ? `after line ${s!.cut.lastWholeLine}: ${s!.cut.reason}` : null,
        },
        events.file,
        findings.lines > 0 ? findings.file : undefined,
      );
      const loadMs = performance.now() - t1;
      log.info({ trace, events: loaded.events, findings: loaded.findings, replay_ms: Math.round(t1 - t0), load_ms: Math.round(loadMs) }, 'trace loaded');
      summary.traces.push({ trace, events: loaded.events, findings: loaded.findings, replayMs: t1 - t0, loadMs, ...(s!.cut && { cut: s!.cut.reason }) });
      rmSync(events.file, { force: true });
    }
    for (const f of o.findings ?? []) summary.extraFindings += await db.loadFindings(basename(f), f);
    await db.derive();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    if (store === undefined) db.close();
  }
  return summary;
}
