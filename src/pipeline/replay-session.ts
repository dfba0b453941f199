import { concat, defaultIfEmpty, defer, lastValueFrom, skip, tap } from 'rxjs';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { TraceHeader } from '../schema/trace-header.js';
import type { Baseline } from '../schema/baseline.js';
import type { FeatureSink } from '../correlate/behaviour-features.js';
import type { ScoringOptions } from '../correlate/baseline-scorer.js';
import { findingTextLines, type FindingTextOptions } from '../sinks/finding-text.js';
import { JsonlWriter } from '../sinks/jsonl-writer.js';
import { outputFailures, type OutputFailure } from '../sinks/output-failures.js';

import { newTraceReadStats, readTrace, readTraceHeader, type TraceReadStats } from '../source/trace-reader.js';
import { traceFileSize } from '../source/trace-parser.js';
import type { RecordedLine } from '../source/recorded-lines.js';
import { SystemState } from '../state/system-state.js';
import { moduleLog } from '../util/log.js';
import { loadRuleSet, sameRules, type RuleSet } from '../rules/rule-set.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import { buildCorrelation } from './correlation.js';
import { importFormatOf, importHeader, newImportStats, readImport, type ImportStats } from './import-recording.js';
import type { OutputsFile } from '../schema/outputs.js';
import type { AuditSettings, AuditTrail } from './audit-trail.js';
import { openSinks } from './run-sinks.js';
import { analyze } from './pipeline.js';

const log = moduleLog('pipeline/replay-session');

export interface ReplayOptions {
  traces: string[];
  rulesDir?: string;
  /** The rules, already loaded (loaded from `rulesDir` otherwise). */
  rules?: RuleSet;
  /** Findings as JSON Lines (file or - for stdout). */
  findings?: string;
  /** Findings as text for a person instead (docs/findings.md). */
  findingsText?: FindingTextOptions | undefined;
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
  /** Set to each event's line as the trace holds it, before the event goes through the pipeline (source/recorded-lines.ts). */
  recordedLine?: RecordedLine;
  /** Called with the stats of the trace being read (progress display) and its header. */
  onTraceStart?: (stats: TraceReadStats, header: TraceHeader) => void;
  /** Called at the end when --findings or --events could not be written in full (a full disk). */
  onOutputFailures?: (failures: OutputFailure[]) => void;
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

/** A trace to replay, its header read. */
interface TraceFile {
  file: string;
  imported: boolean;
  header: TraceHeader;
}

/** `next` is the segment of a rotated recording that follows `prev` (same run, next index). */
function continues(prev: TraceFile, next: TraceFile): boolean {
  const a = prev.header.segment;
  const b = next.header.segment;
  return !prev.imported && !next.imported && a !== undefined && b !== undefined && a.run === b.run && b.index === a.index + 1;
}

/**
 * Replays recorded traces through the same analysis pipeline as `watch`
 * (state, flow, chain rules, findings), one trace after another, each with
 * its own state: a trace is one host's stream from its own epoch. Events
 * are replayed in recorded order, which is the order `watch` analysed them
 * in (the recorder sits after the reorder stage), so the findings are the
 * same ones `watch` produced. Consecutive segments of one rotated recording
 * (`watch --record-rotate`), given in order, are one stream: state, data
 * flow and open chains carry over, and each later segment's state events
 * are skipped; a segment given on its own starts from them.
 */
export async function runReplay(o: ReplayOptions): Promise<ReplayTraceSummary[]> {
  // a full disk stops that output, not the replay: the audit log of the trace being replayed records when
  const auditNow: { trail?: AuditTrail | undefined } = {};
  const outputFailed = (file: string, why: string): void => auditNow.trail?.sinkDrop(file, why);
  const findingsOut = o.findings ? new JsonlWriter(o.findings, { what: 'the findings (--findings)', render: o.findingsText && findingTextLines(o.findingsText), onFail: outputFailed }) : undefined;
  const eventsOut = o.events ? new JsonlWriter(o.events, { what: 'the events (--events)', onFail: outputFailed }) : undefined;
  const out: ReplayTraceSummary[] = [];
  try {
    const groups: TraceFile[][] = [];
    // every path is a file before any is read: a typo is a usage error, not a failure halfway through
    for (const file of o.traces) traceFileSize(file);
    for (const file of o.traces) {
      const imported = importFormatOf(file) !== undefined;
      const t: TraceFile = { file, imported, header: imported ? await importHeader(file) : await readTraceHeader(file) };
      const last = groups.at(-1)?.at(-1);
      if (last !== undefined && continues(last, t)) groups.at(-1)!.push(t);
      else {
        if (t.header.segment !== undefined && t.header.segment.index > 0) {
          log.info({ file, run: t.header.segment.run, segment: t.header.segment.index }, 'a later segment of a rotated recording without the one before it: replayed from the state it starts with (data followed from earlier segments is not known)');
        }
        groups.push([t]);
      }
    }
    // read once, before the first trace: every trace of the run is replayed under the same rules
    const rules = o.rules ?? loadRuleSet(o.rulesDir);
    for (const group of groups) out.push(...(await replayGroup(group, o, rules, findingsOut, eventsOut, auditNow)));
  } finally {
    await eventsOut?.close();
    await findingsOut?.close();
    const failures = outputFailures([findingsOut, eventsOut]);
    if (failures.length > 0) o.onOutputFailures?.(failures);
  }
  return out;
}

/** The outputs' writes done or failed, so a failure reaches the audit log of the trace being replayed, before it closes. */
async function settle(...outs: (JsonlWriter | undefined)[]): Promise<void> {
  for (const out of outs) await out?.settle();
}

/** One stream: a trace, or consecutive segments of one rotated recording. One summary per file. */
async function replayGroup(
  group: TraceFile[],
  o: ReplayOptions,
  rules: RuleSet,
  findingsOut: JsonlWriter | undefined,
  eventsOut: JsonlWriter | undefined,
  auditNow: { trail?: AuditTrail | undefined },
): Promise<ReplayTraceSummary[]> {
  const head = group[0]!;
  const header = head.header;
  const parts = group.map((t) => ({ t, stats: newTraceReadStats(t.file), importStats: newImportStats(), findings: 0, elapsedMs: 0 }));
  const readOptions = { ...(o.speed !== undefined && { speed: o.speed }), ...(o.recordedLine !== undefined && { recordedLine: o.recordedLine }) };
  let findings = 0;
  const state = new SystemState();
  // the audit log states the rules and policy this replay applies; what the trace was recorded under goes beside them
  const sinks = openSinks(o, { ...header, scope: { mode: 'replay' }, policy_sha256: o.policy?.sha256 ?? null, rules: rules.digests }, {
    replay_of: { files: group.map((t) => t.file), scope: header.scope, policy_sha256: header.policy_sha256, rules: header.rules ?? null },
  });
  const { audit, siem } = sinks;
  auditNow.trail = audit;
  const correlation = buildCorrelation({
    rules,
    taskOfPid: (pid) => state.taskOfPid(pid),
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
    log.info({ file: head.file, recorded_policy: header.policy_sha256, replay_policy: o.policy?.sha256 ?? null }, 'replaying under a different policy than the one in force when this was recorded');
  }
  if (header.rules !== undefined && !sameRules(header.rules, rules.digests)) {
    log.info({ file: head.file, recorded_rules: header.rules, replay_rules: rules.digests }, 'replaying under other rules than the ones in force when this was recorded');
  }
  const t0 = performance.now();
  let tPart = t0;
  const source$ = concat(
    ...parts.map((p, k) =>
      defer(() => {
        o.onTraceStart?.(p.stats, p.t.header);
        const src = p.t.imported ? readImport(p.t.file, p.t.header, p.stats, p.importStats) : readTrace(p.t.file, p.stats, readOptions);
        // a continuing segment starts with the state the stream already has
        return (k > 0 ? src.pipe(skip(p.t.header.segment!.snapshot_events)) : src).pipe(
          tap({
            complete: () => {
              const now = performance.now();
              p.findings = findings - parts.slice(0, k).reduce((n, q) => n + q.findings, 0);
              p.elapsedMs = now - tPart;
              tPart = now;
            },
          }),
        );
      }),
    ),
  );
  const files = group.map((t) => t.file);
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
    await settle(findingsOut, eventsOut);
    await sinks.close(`failed: ${(e as Error).message}`, { file: files.join(' ') });
    throw e;
  }
  const before = findings;
  for (const f of correlation.correlator.flush()) correlation.onFinding(f);
  parts.at(-1)!.findings += findings - before;
  const events = parts.reduce((n, p) => n + p.stats.events, 0);
  const cut = parts.find((p) => p.stats.cut)?.stats.cut;
  await settle(findingsOut, eventsOut);
  await sinks.close('replayed', { file: files.join(' '), events, ...(cut && { cut }) });
  return parts.map((p) => {
    const { file, imported, header: h } = p.t;
    const summary: ReplayTraceSummary = {
      file,
      header: h,
      events: p.stats.events,
      findings: p.findings,
      ...(p.stats.cut && { cut: p.stats.cut }),
      ...(imported && { imported: p.importStats }),
      state: { ...state.stats },
      elapsedMs: p.elapsedMs,
    };
    if (p.stats.cut) log.warn({ file, last_whole_line: p.stats.cut.lastWholeLine, reason: p.stats.cut.reason }, 'trace is cut off: replayed everything before the cut');
    if (imported) {
      const s = p.importStats;
      log.info({ file, format: h.imported_from?.format, records: s.records, events: s.events, unmapped: s.unmapped, unpaired: s.unpaired, unknown_flags: s.unknownFlags, rejected: s.rejected, ...(s.rejectedFirst !== undefined && { rejected_first: s.rejectedFirst }), snapshot_fds: s.snapshotFds, socket_ends_inferred: s.socketEndsInferred, malformed: s.malformed, malformed_lines: s.malformedLines, annotations: h.annotations }, 'recording imported');
    }
    log.info({ file, events: summary.events, findings: summary.findings, elapsed_ms: Math.round(summary.elapsedMs), ...(h.segment && { run: h.segment.run, segment: h.segment.index }) }, 'trace replayed');
    return summary;
  });
}
