import { defaultIfEmpty, lastValueFrom, tap } from 'rxjs';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { TraceHeader } from '../schema/trace-header.js';
import type { Baseline } from '../schema/baseline.js';
import type { FeatureSink } from '../correlate/behaviour-features.js';
import type { ScoringOptions } from '../correlate/baseline-scorer.js';
import { JsonlWriter } from '../sinks/jsonl-writer.js';

import { newTraceReadStats, readTrace, readTraceHeader, type TraceReadStats } from '../source/trace-reader.js';
import { SystemState } from '../state/system-state.js';
import { moduleLog } from '../util/log.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import { buildCorrelation } from './correlation.js';
import { importFormatOf, importHeader, newImportStats, readImport, type ImportStats } from './import-recording.js';
import type { OutputsFile } from '../schema/outputs.js';
import type { AuditSettings } from './audit-trail.js';
import { openSinks } from './run-sinks.js';
import { analyze } from './pipeline.js';

const log = moduleLog('pipeline/replay-session');

export interface ReplayOptions {
  traces: string[];
  rulesDir?: string;
  /** Findings as JSON Lines (file or - for stdout). */
  findings?: string;
  /** Resolved events as JSON Lines (file or - for stdout). */
  events?: string;
  /** The capability policy to apply (a changed policy against recorded traffic). */
  policy?: LoadedPolicy;
  /** The tamper-evident audit log: each replayed trace is a run in it (start … shutdown). */
  audit?: AuditSettings;
  /** SIEM outputs for the replay's findings (docs/siem.md). */
  outputs?: OutputsFile;
  queueDir?: string;
  /** Pace by recorded time: 1 = realtime, N = N times faster; undefined = as fast as possible. */
  speed?: number;
  /** Score tasks against these baselines (per intent); `learner` instead collects features (baseline learn). */
  baselines?: Baseline[];
  scoring?: ScoringOptions;
  learner?: FeatureSink;
  onFinding?: (f: Finding) => void;
  onEvent?: (ev: Event) => void;
  /** Called with the stats of the trace being read (progress display). */
  onTraceStart?: (stats: TraceReadStats) => void;
}

export interface ReplayTraceSummary {
  file: string;
  header: TraceHeader;
  events: number;
  findings: number;
  /** Where the recording was cut off, if it was. */
  cut?: TraceReadStats['cut'];
  /** For sysdig/LID-DS recordings: what was mapped, and what could not be. */
  imported?: ImportStats;
  state: SystemState['stats'];
  elapsedMs: number;
}

/**
 * Replays recorded traces through the same analysis pipeline as `watch`
 * (state, flow, chain rules, findings), one trace after another, each with
 * its own state: a trace is one host's stream from its own epoch. Events
 * are replayed in recorded order, which is the order `watch` analysed them
 * in (the recorder sits after the reorder stage), so the findings are the
 * same ones `watch` produced.
 */
export async function runReplay(o: ReplayOptions): Promise<ReplayTraceSummary[]> {
  const findingsOut = o.findings ? new JsonlWriter(o.findings) : undefined;
  const eventsOut = o.events ? new JsonlWriter(o.events) : undefined;
  const out: ReplayTraceSummary[] = [];
  try {
    for (const file of o.traces) {
      const imported = importFormatOf(file) !== undefined;
      const header = imported ? await importHeader(file) : await readTraceHeader(file);
      const stats = newTraceReadStats(file);
      const importStats = newImportStats();
      const paced = o.speed === undefined ? {} : { speed: o.speed };
      const source$ = imported ? readImport(file, header, stats, importStats) : readTrace(file, stats, paced);
      o.onTraceStart?.(stats);
      let findings = 0;
      const state = new SystemState();
      const sinks = openSinks(o, header);
      const { audit, siem } = sinks;
      const correlation = buildCorrelation({
        rulesDir: o.rulesDir,
        host: header.host,
        wallEpochNs: BigInt(header.wall_epoch_ns),
        policy: o.policy,
        baselines: o.baselines,
        scoring: o.scoring,
        learner: o.learner,
        onFinding: (f) => {
          findings++;
          audit?.finding(f);
          siem?.finding(f);
          findingsOut?.write(f);
          o.onFinding?.(f);
        },
      });
      if ((o.policy?.sha256 ?? null) !== header.policy_sha256) {
        log.info({ file, recorded_policy: header.policy_sha256, replay_policy: o.policy?.sha256 ?? null }, 'replaying under a different policy than the one in force when this was recorded');
      }
      const t0 = performance.now();
      try {
        await lastValueFrom(
          source$.pipe(
            analyze(state, correlation),
            tap((ev) => {
              audit?.event(ev);
              eventsOut?.write(ev);
              o.onEvent?.(ev);
            }),
            defaultIfEmpty(undefined),
          ),
        );
      } catch (e) {
        // a bad line stops the replay, but what the events before it proved is still reported
        for (const f of correlation.correlator.flush()) correlation.onFinding(f);
        await sinks.close(`failed: ${(e as Error).message}`, { file });
        throw e;
      }
      await sinks.close('replayed', { file, events: stats.events, ...(stats.cut && { cut: stats.cut }) });
      const summary: ReplayTraceSummary = {
        file,
        header,
        events: stats.events,
        findings,
        ...(stats.cut && { cut: stats.cut }),
        ...(imported && { imported: importStats }),
        state: { ...state.stats },
        elapsedMs: performance.now() - t0,
      };
      if (stats.cut) log.warn({ file, last_whole_line: stats.cut.lastWholeLine, reason: stats.cut.reason }, 'trace is cut off: replayed everything before the cut');
      if (imported) {
        log.info({ file, format: header.imported_from?.format, records: importStats.records, events: importStats.events, unmapped: importStats.unmapped, unpaired: importStats.unpaired, unknown_flags: importStats.unknownFlags, snapshot_fds: importStats.snapshotFds, socket_ends_inferred: importStats.socketEndsInferred, malformed: importStats.malformed, malformed_lines: importStats.malformedLines, annotations: header.annotations }, 'recording imported');
      }
      log.info({ file, events: summary.events, findings, elapsed_ms: Math.round(summary.elapsedMs) }, 'trace replayed');
      out.push(summary);
    }
  } finally {
    await eventsOut?.close();
    await findingsOut?.close();
  }
  return out;
}
