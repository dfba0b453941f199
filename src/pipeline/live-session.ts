import { Subject } from 'rxjs';
import type { FindingStats } from '../correlate/finding-builder.js';
import type { FlowTracker } from '../correlate/flow-tracker.js';
import { ProbeDecoder } from '../decode/probe-decoder.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { TraceHeader } from '../schema/trace-header.js';
import type { Baseline } from '../schema/baseline.js';
import type { ScoringOptions } from '../correlate/baseline-scorer.js';
import { runHeader } from './run-header.js';
import { findingTextLines, type FindingTextOptions } from '../sinks/finding-text.js';
import { JsonlWriter } from '../sinks/jsonl-writer.js';
import { outputFailures, outputReadings, type OutputFailure } from '../sinks/output-failures.js';
import { RunMetrics, type MetricsServer } from '../sinks/metrics.js';
import { TraceRecorder } from '../sinks/trace-recorder.js';
import { stateSnapshot } from '../state/state-snapshot.js';
import { BpftraceProcess } from '../source/bpftrace-process.js';
import type { OutputsFile } from '../schema/outputs.js';
import type { AuditSettings } from './audit-trail.js';
import { openSinks, type RunSinks } from './run-sinks.js';
import { renderEnforcement } from '../source/enforce-probe.js';
import { DeliveryProof } from '../source/delivery-proof.js';
import { CgroupDirectory, cgroupIdOf, cgroupV2Root, subtreeIds } from '../source/cgroups.js';
import { renderProbe, type WatchScope } from '../source/probe-catalog.js';
import { printfLayouts, type PrintfLayout } from '../decode/printf-layouts.js';
import { PROBE_STRLEN } from '../util/probe-format.js';
import { ia32Emulation } from '../source/ia32-emulation.js';
import { descendantsOf, listPids, ProcFdReader, readProcInfo, snapshotProcesses } from '../source/proc-snapshot.js';
import { healFromProc, newHealStats, type HealStats } from './operators/heal-from-proc.js';
import { WatchedCommand } from '../source/watched-command.js';
import { SystemState } from '../state/system-state.js';
import { ChainwatchError } from '../util/errors.js';
import { LogThrottle } from '../util/log-throttle.js';
import { VERSION } from '../util/version.js';
import { moduleLog } from '../util/log.js';
import type { TaskNamer } from './operators/name-tasks.js';
import type { ReorderStats } from './operators/reorder-by-time.js';
import { loadRuleSet, sameRules, type RuleSet } from '../rules/rule-set.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import { buildCorrelation, useReloaded } from './correlation.js';
import { analyze, liveEvents } from './pipeline.js';
import { readForReload } from './reload.js';
import { watchHealth } from './watch-health.js';

/** What a reload put in force: the rules, and the policy (undefined without one). */
export interface Reloaded {
  rules: RuleSet;
  policy: LoadedPolicy | undefined;
}

const log = moduleLog('pipeline/live-session');


/** The longest an event waits for proof that nothing earlier can still arrive (see reorder-by-time). */
export const DEFAULT_MAX_HOLD_MS = 2000;


export type LiveTarget =
  | { mode: 'host' }
  | { mode: 'cgroup'; path: string }
  | { mode: 'pid'; pid: number }
  | { mode: 'command'; argv: string[] };

export interface LiveSessionOptions {
  target: LiveTarget;
  /** Task name for pid/command mode (default pid-PID or the command's name). */
  task?: string;
  /** cgroup mode: each child cgroup of the watched one is its own task (named after it). */
  taskPerCgroup?: boolean;
  events?: string;
  /** Findings as JSON Lines (file or - for stdout). */
  findings?: string;
  /** Findings as text for a person instead (docs/findings.md). */
  findingsText?: FindingTextOptions | undefined;
  /** Folder with data-classes.yaml and chains.yaml (default: the installed rules/). */
  rulesDir?: string;
  /** The rules, already loaded from `rulesDir` (serve loads them once for the host and every agent). */
  rules?: RuleSet;
  record?: string;
  /** Record in segments of about this many bytes (uncompressed), each replayable on its own. */
  recordRotateBytes?: number;
  /** Earlier segments of this run kept (the oldest removed); all when undefined. */
  recordKeep?: number;
  durationS?: number;
  ringPages?: number;
  /** Most keys per BPF map of the probe (tests fill maps with small values). */
  mapKeysMax?: number;
  /** Batched delivery: bpftrace checks its buffers this often (µs); 0 wakes it for every record. Default 1000. */
  pollUs?: number;
  /** false: bpftrace formats the probe's records as text instead of handing over their bytes (probes/binary-records.c). */
  binaryRecords?: boolean;
  /** The capability policy in force (its hash goes into the trace header and every finding). */
  policy?: LoadedPolicy;
  /** The tamper-evident audit log (docs/audit.md); none when undefined. */
  audit?: AuditSettings;
  /** SIEM outputs (docs/siem.md) and where their durable queues live (default ./var/queue). */
  outputs?: OutputsFile;
  queueDir?: string;
  /**
   * The policy file, re-read when `onReloadRequest`'s callback is called (SIGHUP), unless the caller
   * hands it the policy it already loaded (chainwatch serve, which records the reload itself).
   */
  policyFile?: string;
  /**
   * Receives a function that reloads the rules (from `rulesDir`) and the policy (from `policyFile`), checked
   * against each other and put in force together (the CLI calls it on SIGHUP); serve hands it what it loaded.
   */
  onReloadRequest?: (reload: (loaded?: Reloaded) => void) => void;
  /** Kill processes that violate an intent with on_violation: kill (default: dry run, findings say would-kill). */
  enforce?: boolean;
  /** The longest an event waits for delivery proof before release (default DEFAULT_MAX_HOLD_MS). */
  reorderMs?: number;
  /** Receives every resolved event (tests, later stages). */
  onEvent?: (ev: Event) => void;
  /** Receives every finding. */
  onFinding?: (f: Finding) => void;
  /** Called once probes are attached and the snapshot is taken. */
  onReady?: () => void;
  /** --events-rotate / --events-keep: the events file in parts (JsonlWriter `rotate`). */
  eventsRotate?: { bytes: number; keep?: number };
  /** Serve Prometheus metrics on this address (docs/metrics.md); `onMetrics` gets the port (0 asks for any free one). */
  metrics?: { host: string; port: number };
  onMetrics?: (port: number) => void;
  /** Stop early (e.g. SIGINT from the CLI). */
  stopSignal?: Promise<unknown>;
  /** Score tasks against the baseline of their intent (docs/baselines.md). */
  baselines?: Baseline[];
  scoring?: ScoringOptions;
  /** false: canonical events only, no state, correlation or sinks (the guest agent streams them to the host). */
  analysis?: boolean;
  /** The run's trace header, before any event. */
  onHeader?: (h: TraceHeader) => void;
  /** Every canonical event before resolution, in kernel time order (what a recording holds). */
  onCanonical?: (ev: Event) => void;
  /** Every event up to this ts has been delivered and released (the probe's delivery proof). */
  onWatermark?: (ts: number) => void;
  /** Sinks opened by the caller and shared with other sources (chainwatch serve); the session does not close them. */
  sinks?: RunSinks;
}

export interface LiveSessionSummary {
  events: number;
  findings: number;
  /** Per new finding: ms from the kernel timestamp of the transmit to the finding leaving the pipeline. */
  detectionLatencyMs: number[];
  lostEvents: number;
  lossReports: number;
  malformedLines: number;
  decoder: ProbeDecoder['stats'];
  /** Carriers and marked channels left at the end, transmits seen. */
  flow: ReturnType<FlowTracker['stats']>;
  /** Chains still open for counter updates at the end, updated findings emitted, chains closed to stay within the bound. */
  chains: FindingStats;
  lateEvents: number;
  /** The first late events: kind, time, how far behind, pid. */
  lateSamples: ReorderStats['lateSamples'];
  lateSummaries: number;
  /** First reads the probe held back by design that arrived behind later records (expected; ProbeDecoder.emittingDeferred). */
  lateDeferred: number;
  state: SystemState['stats'];
  /** Processes from outside the watch and sockets and pipes no probe saw made, read from /proc (operators/heal-from-proc.ts). */
  fromProc: HealStats;
  processes: number;
  objects: number;
  attachedProbes: number;
  attachMs: number;
  /** `stop-request`: the probe printed its pending records on request and bpftrace was not waited for while the kernel detached it; `exit`: bpftrace detached and exited (an error, or no answer to the request). */
  probeStop: 'stop-request' | 'exit';
  /** From asking bpftrace to stop (after the drain) to its last record read. */
  stopMs: number;
  commandExit?: { code: number | null; signal: NodeJS.Signals | null };
  /** With --record: events recorded, segments written (1 without rotation), segments removed to keep within --record-keep. */
  recorded?: { events: number; segments: number; segmentsRemoved: number; notRecorded?: number; resumed?: number };
  /** Outputs that could not be written in full (a full disk); the CLI exits 6 when there is one. */
  outputFailures: OutputFailure[];
}

function monoNow(): bigint {
  return process.hrtime.bigint();
}

/**
 * One live monitoring run. Steps: decide the scope (in-kernel filter),
 * start bpftrace, wait until attached, read /proc for what was already
 * running, release a watched command, then stream until the duration ends,
 * the command exits or `stopSignal` fires; finally stop bpftrace (it prints
 * pending I/O runs on the way out) and flush the sinks.
 */
export async function runLiveSession(o: LiveSessionOptions): Promise<LiveSessionSummary> {
  // the rules are read (and any mistake in them reported) before anything starts
  const ruleSet = o.rules ?? loadRuleSet(o.rulesDir);
  const cgRoot = cgroupV2Root();
  const excludes = [process.pid];
  let scope: WatchScope;
  let cmd: WatchedCommand | undefined;
  let namer: TaskNamer;
  const dir = new CgroupDirectory(cgRoot, o.target.mode === 'cgroup' ? (o.target.path.startsWith('/') ? o.target.path : `/${o.target.path}`) : '/');
  const pathOf = (id: number): string => dir.pathOf(id) ?? `cgroup-${id}`;
  switch (o.target.mode) {
    case 'host':
      scope = { mode: 'host' };
      namer = (id) => {
        const path = pathOf(id);
        return { path, task: path === '/' ? 'host' : path };
      };
      break;
    case 'cgroup': {
      const path = o.target.path.startsWith('/') ? o.target.path : `/${o.target.path}`;
      scope = { mode: 'cgroup', path, ids: subtreeIds(cgRoot, path) };
      const task = o.task ?? (path.split('/').filter(Boolean).pop() ?? 'root');
      // --task-per-cgroup: each child cgroup of the watched one is a task of its own (one sandbox or run per child)
      namer = o.taskPerCgroup
        ? (id) => {
            const p = pathOf(id);
            const child = p.startsWith(`${path}/`) ? p.slice(path.length + 1).split('/')[0]! : task;
            return { path: p, task: child };
          }
        : (id) => ({ path: pathOf(id), task });
      break;
    }
    case 'pid': {
      if (readProcInfo(o.target.pid) === undefined) {
        throw new ChainwatchError('PID_NOT_FOUND', `no process ${o.target.pid}`, { fix: 'give the pid of a running process' });
      }
      scope = { mode: 'pid', pids: descendantsOf([o.target.pid]) };
      const task = o.task ?? `pid-${o.target.pid}`;
      namer = (id) => ({ path: pathOf(id), task });
      break;
    }
    case 'command': {
      cmd = new WatchedCommand(o.target.argv, o.events === '-' || o.findings === '-');
      await cmd.held();
      scope = { mode: 'pid', pids: [cmd.pid] };
      const task = o.task ?? (o.target.argv[0]!.split('/').pop() ?? 'command');
      namer = (id) => ({ path: pathOf(id), task });
      break;
    }
  }

  // --enforce: the policy's single-event hard denies are compiled into the probe and killed in the kernel
  const enforcement = o.enforce && o.policy ? renderEnforcement(o.policy.effective, dir.all()) : undefined;
  if (enforcement) log.info({ intents: enforcement.intents, in_user_space_only: enforcement.notInKernel }, 'in-kernel enforcement of exec and IPv4 connect denies');
  // 32-bit syscalls bypass the syscall tracepoints: while the kernel runs them, one program on every syscall entry reports them
  const ia32 = ia32Emulation();
  log.info({ ia32_emulation: ia32.enabled, why: ia32.why }, ia32.enabled ? '32-bit syscalls are possible: their first use per thread is reported' : 'no 32-bit syscalls on this kernel: no program on every syscall entry');
  const rendered = renderProbe(scope, excludes, undefined, enforcement, ia32.enabled);
  const header = runHeader(
    {
      mode: o.target.mode,
      ...(o.target.mode === 'cgroup' && { cgroup: o.target.path }),
      ...(o.target.mode === 'pid' && { pid: o.target.pid }),
      ...(o.target.mode === 'command' && { command: o.target.argv }),
    },
    { probes: rendered.probes, rendered_sha256: rendered.renderedSha256, policy_sha256: o.policy?.sha256 ?? null, ...(o.analysis !== false && { rules: ruleSet.digests }) },
  );
  const monoEpoch = BigInt(header.mono_epoch_ns);
  const wallEpoch = BigInt(header.wall_epoch_ns);
  const now = (): number => Number(monoNow() - monoEpoch);

  let issuesLogged = 0;
  // the probe prints a TICK every 5 ms while records flow (every 100 ms when quiet); read in sequence they prove up to when every record has been delivered
  const proof = new DeliveryProof();
  let deliveredUpTo = -1;
  const tickWaiters: { after: bigint; resolve: () => void }[] = [];
  // the reorder stage's wake-up: called when a TICK moves the proof on
  let wakeReorder = (): void => undefined;
  const decoder = new ProbeDecoder({
    monoEpochNs: monoEpoch,
    onLiveness: (kind, mono) => {
      if (kind !== 'TICK') return;
      const proven = proof.onTick(mono, monoNow());
      if (proven < 0n) return;
      const upTo = Number(proven - monoEpoch);
      if (upTo > deliveredUpTo) {
        deliveredUpTo = upTo;
        wakeReorder();
      }
      for (let i = tickWaiters.length - 1; i >= 0; i--) {
        if (proven > tickWaiters[i]!.after) tickWaiters.splice(i, 1)[0]!.resolve();
      }
    },
    onIssue: (i) => {
      issuesLogged++;
      if (issuesLogged <= 20 || issuesLogged % 1000 === 0) log.warn({ line: i.line, reason: i.reason, excerpt: i.excerpt, total: issuesLogged }, 'malformed probe line skipped');
    },
  });
  o.onHeader?.(header);
  // a failure from here until the probes run must not leave the held command behind (it would keep this process alive), nor an audit run unclosed
  let opened: RunSinks | undefined;
  const abort = (e: unknown): never => {
    cmd?.child.kill('SIGKILL');
    if (o.sinks === undefined) void opened?.close(`failed: ${(e as Error).message}`);
    throw e;
  };
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      return abort(e);
    }
  };
  const sinks = guard(() => o.sinks ?? (o.analysis === false ? openSinks({}, header) : openSinks(o, header)));
  opened = sinks;
  const { audit, siem } = sinks;
  if (o.recordRotateBytes !== undefined && o.analysis === false) {
    abort(new ChainwatchError('USAGE', 'a rotated recording starts each segment with the analysis state, and this session keeps none', { fix: 'record without rotation here, or rotate on the host (chainwatch serve)' }));
  }
  const state = new SystemState();
  let metrics: RunMetrics | undefined;
  let metricsServer: MetricsServer | undefined;
  // a full disk stops an output, never the monitoring: the audit log records when, the summary how much
  const outputFailed = (file: string, why: string): void => audit?.sinkDrop(file, why);
  const recorder = guard(() =>
    o.record
    ? new TraceRecorder(
        o.record,
        header,
        o.recordRotateBytes === undefined
          ? undefined
          : { bytes: o.recordRotateBytes, ...(o.recordKeep !== undefined && { keep: o.recordKeep }), snapshot: (ts) => stateSnapshot(state, ts) },
        { onFail: outputFailed },
      )
    : undefined,
  );
  if (recorder?.keptPrevious !== undefined) log.warn({ record: o.record, previous: recorder.keptPrevious }, 'an earlier trace at the --record path was moved aside, not overwritten');
  // appended, never truncated: a watch restarted as a service keeps the findings of its earlier runs
  const findingsOut = guard(() => (o.findings ? new JsonlWriter(o.findings, { what: 'the findings (--findings)', render: o.findingsText && findingTextLines(o.findingsText), append: true, onFail: outputFailed }) : undefined));
  let findingCount = 0;
  const detectionMs: number[] = [];
  const correlation = guard(() =>
    buildCorrelation({
      rules: ruleSet,
      host: header.host,
      wallEpochNs: wallEpoch,
      taskOfPid: (pid) => state.taskOfPid(pid),
      policy: o.policy,
      baselines: o.baselines,
      scoring: o.scoring,
      verifyDigests: true,
      enforce: o.enforce
        ? (v) => {
            try {
              process.kill(v.ev.pid, 'SIGKILL');
              log.warn({ pid: v.ev.pid, rule: v.rule, intent: v.intent }, 'killed a process that violated its intent');
              return 'killed';
            } catch (e) {
              log.error({ pid: v.ev.pid, rule: v.rule, err: (e as Error).message }, 'could not kill a process that violated its intent');
              return 'kill-failed';
            }
          }
        : undefined,
      onFinding: (f) => {
        findingCount++;
        // detection latency: from the transmit syscall (kernel time) to the finding leaving the pipeline
        if (f.sends === 1) detectionMs.push((now() - f.ts_ns) / 1e6);
        findingsOut?.write(f);
        audit?.finding(f);
        siem?.finding(f);
        metrics?.finding(f);
        o.onFinding?.(f);
      },
    }),
  );
  // SIGHUP (watch) or the host's reload (serve): the rules and the policy are read again, checked against each other, and put in force together, or neither is
  let rulesNow = ruleSet;
  let policyNow = o.policy;
  o.onReloadRequest?.((loaded) => {
    const apply = (next: Reloaded): void => {
      useReloaded(correlation, next, !sameRules(rulesNow.digests, next.rules.digests), true);
      rulesNow = next.rules;
      if (next.policy !== undefined) policyNow = next.policy;
    };
    // serve loaded and recorded it for every lane
    if (loaded !== undefined) return apply(loaded);
    const r = readForReload(o, { rules: rulesNow, policySha256: policyNow?.sha256 ?? null }, audit);
    if (r.ok) return apply(r);
    correlation.onFinding(correlation.correlator.findings.notice(`${r.what}.reload-rejected`, 'integrity', 'medium', now(), `${r.what} reload rejected, the rules and the policy in force stay (policy ${policyNow?.sha256 ?? 'none'}): ${r.why}`));
  });
  const eventsOut = guard(() => (o.events ? new JsonlWriter(o.events, { what: 'the events (--events)', append: true, onFail: outputFailed, ...(o.eventsRotate && { rotate: o.eventsRotate }) }) : undefined));
  const reorderStats: ReorderStats = { late: 0, lateSummaries: 0, lateDeferred: 0, lateSamples: [], maxBuffered: 0 };
  if (o.metrics !== undefined && o.analysis !== false) {
    metrics = new RunMetrics(VERSION, () => ({
      policySha256: policyNow?.sha256 ?? null,
      rules: rulesNow.digests,
      malformedLines: decoder.stats.malformed,
      lateEvents: reorderStats.late,
      processes: state.procs.size,
      objects: state.objects.size,
      tasks: correlation.correlator.tasksKept.live,
      outputs: outputReadings([findingsOut, eventsOut]),
      ...(recorder && { recording: { events: recorder.events, notRecorded: recorder.dropped, segments: recorder.rotations + 1, failing: recorder.failed !== undefined } }),
      ...(audit && { audit: audit.writeState }),
      ...(siem && { siem: siem.stats() }),
    }));
    try {
      metricsServer = await metrics.listen(o.metrics, o.onMetrics);
    } catch (e) {
      abort(e);
    }
  }
  const closeSinks = async (): Promise<void> => {
    await metricsServer?.close();
    // the files first: a failure while closing them is still recorded in the audit log
    await eventsOut?.close();
    await findingsOut?.close();
    await recorder?.close();
    if (o.sinks === undefined) await sinks.close(failure === undefined ? 'stopped' : `failed: ${(failure as Error).message}`);
  };
  // the probe's records read from their bytes (probes/binary-records.c) when every printf of the script has a layout
  let layouts: PrintfLayout[] | undefined;
  let noLayouts = '';
  try {
    layouts = printfLayouts(rendered.script, PROBE_STRLEN);
  } catch (e) {
    noLayouts = (e as Error).message;
  }
  const bpf = new BpftraceProcess({
    script: rendered.script,
    unsafe: enforcement !== undefined,
    ...(o.ringPages !== undefined && { ringPages: o.ringPages }),
    ...(o.mapKeysMax !== undefined && { mapKeysMax: o.mapKeysMax }),
    ...(o.pollUs !== undefined && { batch: o.pollUs === 0 ? false : { pollUs: o.pollUs } }),
    binaryRecords: o.binaryRecords !== false && layouts !== undefined,
  });
  const snapshot$ = new Subject<Event>();

  let lossSeen = 0;
  // processes from outside the watch, and sockets and pipes no probe saw made, are read from /proc as they arrive
  const healStats = newHealStats();
  const fdReader = new ProcFdReader('/proc', undefined, monoEpoch);
  if (bpf.records.mode === 'binary' && layouts !== undefined) decoder.setPrintfLayouts(layouts);
  else log.warn({ reason: bpf.records.mode === 'text' ? noLayouts || bpf.records.reason : noLayouts }, 'probe records formatted as text by bpftrace (slower)');
  const canonical$ = liveEvents(bpf.output$, snapshot$, {
    decoder,
    heal: healFromProc({ fd: (fd, base, obj) => fdReader.read(fd, base, obj), process: (base, argStart) => fdReader.process(base, argStart) }, healStats),
    reorder: {
      watermark: () => deliveredUpTo,
      onWake: (wake) => (wakeReorder = wake),
      maxHoldNs: (o.reorderMs ?? DEFAULT_MAX_HOLD_MS) * 1e6,
      stats: reorderStats,
      // the rule clock: everything up to here has been through the correlator
      onReleased: (upTo) => {
        if (o.analysis !== false) for (const f of correlation.correlator.tick(upTo)) correlation.onFinding(f);
        o.onWatermark?.(upTo);
      },
    },
    namer,
    forgetCgroup: (id) => dir.forget(id),
    ...((recorder || o.onCanonical) && {
      record: (ev: Event) => {
        recorder?.record(ev);
        o.onCanonical?.(ev);
      },
    }),
  });
  const events$ = o.analysis === false ? canonical$ : canonical$.pipe(analyze(state, correlation));

  let count = 0;
  const lossLog = new LogThrottle();
  let lostSinceLogged = 0;
  let failure: unknown;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  // exactly one subscription: lines$ is cold, each subscription would start a bpftrace
  const sub = events$.subscribe({
    next: (ev) => {
      count++;
      if (ev.kind === 'loss') {
        lossSeen += ev.events;
        lostSinceLogged += ev.events;
        // under overload a report can come every few ms: the first few are logged, then one line per 10 s (the audit log has each)
        const t = lossLog.take();
        if (t.log) {
          // source: kernel (buffers overflowed), io_uring.OP (a ring operation the probe cannot follow), …
          log.warn({ lost: lostSinceLogged, reports: t.occurrences, total: lossSeen, source: ev.source }, ev.source === 'kernel' ? 'kernel events lost' : 'events not seen');
          lostSinceLogged = 0;
        }
      }
      eventsOut?.write(ev);
      audit?.event(ev);
      metrics?.event(ev);
      o.onEvent?.(ev);
    },
    error: (e: unknown) => {
      failure = e;
      resolveDone();
    },
    complete: () => resolveDone(),
  });

  const t0 = Date.now();
  let attachedProbes: number;
  try {
    attachedProbes = await bpf.attached;
  } catch (e) {
    cmd?.child.kill('SIGKILL');
    sub.unsubscribe();
    await closeSinks();
    throw e;
  }
  const attachMs = Date.now() - t0;
  log.info({ probes: attachedProbes, attach_ms: attachMs, scope: header.scope, delivery: bpf.delivery, records: bpf.records.mode, events_cache: bpf.eventsCache !== undefined }, 'probes attached');
  if (bpf.eventsCache === undefined) log.warn('dist/events-cache.so was not built (no C compiler at build time): bpftrace re-reads the kernel tracepoint list for every probe and attaches several times slower');
  if (bpf.delivery.mode === 'per-record') log.warn({ reason: bpf.delivery.reason }, 'probe records are not batched: bpftrace is woken for every record, which slows the watched programs');
  const health =
    o.analysis === false
      ? undefined
      : watchHealth(correlation.correlator, () => ({ events: count, lost: lossSeen, processes: state.procs.size, objects: state.objects.size }), (level, fields, msg) => log[level](fields, msg));

  // what was running before the probes attached
  const snapPids =
    scope.mode === 'pid'
      ? descendantsOf(scope.pids)
      : scope.mode === 'cgroup'
        ? listPids().filter((p) => {
            const info = readProcInfo(p);
            return info !== undefined && (info.cgroupPath === scope.path || info.cgroupPath.startsWith(`${scope.path}/`));
          })
        : listPids().filter((p) => p !== process.pid && p !== bpf.pid);
  const idOf = (path: string): number => {
    try {
      return cgroupIdOf(cgRoot, path);
    } catch {
      return 0;
    }
  };
  for (const ev of snapshotProcesses({ pids: snapPids, now, cgroupId: idOf })) snapshot$.next(ev);
  snapshot$.complete();
  o.onReady?.();

  cmd?.resume();
  const stops: Promise<unknown>[] = [done];
  if (o.durationS !== undefined) stops.push(new Promise((r) => setTimeout(r, o.durationS! * 1000).unref()));
  if (cmd) stops.push(cmd.exited);
  if (o.stopSignal) stops.push(o.stopSignal);
  await Promise.race(stops);
  if (cmd && cmd.child.exitCode === null && cmd.child.signalCode === null && failure === undefined) {
    // stopped for another reason than the command's exit: the command goes with the session
    cmd.child.kill('SIGTERM');
  }
  const commandExit = cmd ? await cmd.exited : undefined;
  if (failure === undefined) {
    // drain: wait (at most 3 s) until delivery is proven past now, so every event before it was read
    const after = monoNow();
    // a quiet probe prints a TICK every 100 ms only: ask for the fast ones
    bpf.requestTicks();
    await Promise.race([
      new Promise<void>((resolve) => tickWaiters.push({ after, resolve })),
      done,
      new Promise((r) => setTimeout(r, 3000).unref()),
    ]);
    log.debug({ delivered_up_to_ns: deliveredUpTo }, 'drained');
  }
  // every event up to now is read: the probe prints its pending records and bpftrace goes, its ~6 s detach unwaited
  if (health !== undefined) clearInterval(health);
  const stopFrom = Date.now();
  if (failure === undefined) bpf.finish();
  else bpf.stop();
  await done;
  const stopMs = Date.now() - stopFrom;
  sub.unsubscribe();
  await closeSinks();
  if (failure) throw failure;

  const summary: LiveSessionSummary = {
    events: count,
    findings: findingCount,
    detectionLatencyMs: detectionMs,
    lostEvents: decoder.stats.lostEvents,
    lossReports: decoder.stats.lossReports,
    malformedLines: decoder.stats.malformed,
    decoder: { ...decoder.stats },
    flow: correlation.correlator.flow.stats(),
    chains: correlation.correlator.findings.stats(),
    lateEvents: reorderStats.late,
    lateSamples: reorderStats.lateSamples,
    lateSummaries: reorderStats.lateSummaries,
    lateDeferred: reorderStats.lateDeferred,
    state: state.stats,
    fromProc: healStats,
    processes: state.procs.size,
    objects: state.objects.size,
    attachedProbes,
    attachMs,
    probeStop: bpf.ended ?? 'exit',
    stopMs,
    ...(commandExit && { commandExit }),
    ...(recorder && { recorded: { events: recorder.events, segments: recorder.rotations + 1, segmentsRemoved: recorder.removed, ...(recorder.dropped > 0 && { notRecorded: recorder.dropped, resumed: recorder.resumed }) } }),
    outputFailures: outputFailures([findingsOut, eventsOut, recorder]),
  };
  return summary;
}

