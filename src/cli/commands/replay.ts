import { Command, InvalidArgumentError, Option } from 'commander';
import { runReplay } from '../../pipeline/replay-session.js';
import { failOnOutputFailures, type OutputFailure } from '../../sinks/output-failures.js';
import { moduleLog } from '../../util/log.js';
import { TraceProgress } from '../trace-progress.js';
import { addAuditOptions, findingsFormatOption, findingsTextOption, addBaselineOptions, auditOptions, baselineOptions, outputsOptions, policyOptions } from '../options.js';

const log = moduleLog('cli/replay');

/** `max` (default), `realtime`, or a positive factor (2 = twice as fast as recorded). */
export function parseSpeed(v: string): number | 'max' {
  if (v === 'max') return 'max';
  if (v === 'realtime') return 1;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('--speed is max, realtime or a positive factor (e.g. 10)');
  return n;
}

export function replayCommand(): Command {
  return addBaselineOptions(addAuditOptions(new Command('replay')))
    .summary('run recorded traces through the same pipeline as watch')
    .description(
      'Replay traces recorded by `watch --record` (plain, .gz or .zst) through the same state,\n' +
        'flow and rule stages as watch; findings go to stdout (or --findings FILE).\n' +
        'A trace cut off by a crash is replayed up to its last whole line, and the cut is reported.',
    )
    .argument('<trace...>', 'trace files, replayed one after another (each with its own state)')
    .option('--findings <file|->', 'write findings as JSON Lines (- for stdout, the default)', '-')
    .addOption(findingsFormatOption())
    .option('--events <file>', 'write the resolved events as JSON Lines')
    .option('--rules <dir>', 'folder with data-classes.yaml and chains.yaml (default: the installed rules/)')
    .option('--policy <file>', 'capability policy to apply (default: the installed rules/policy.yaml): try a changed policy on recorded traffic')
    .option('--no-policy', 'no capability policy (chain rules only)')
    .addOption(new Option('--speed <max|realtime|N>', 'pace by recorded time: max (default), realtime, or N times faster').argParser(parseSpeed).default('max'))
    .option('--no-progress', 'no progress bar (it is only drawn when stderr is a terminal and the findings do not go to a terminal: the bar would be drawn through them)')
    .action(async (traces: string[], opts: Record<string, unknown>) => {
      const speed = opts.speed === 'max' ? undefined : (opts.speed as number);
      const progress = new TraceProgress(opts.progress !== false && process.stderr.isTTY === true && !(opts.findings === '-' && process.stdout.isTTY));
      let failures: OutputFailure[] = [];
      try {
        const summaries = await runReplay({
          traces,
          findings: String(opts.findings),
          ...findingsTextOption(opts),
          ...(opts.events !== undefined && { events: String(opts.events) }),
          ...(opts.rules !== undefined && { rulesDir: String(opts.rules) }),
          ...(speed !== undefined && { speed }),
          ...policyOptions(opts),
          ...baselineOptions(opts),
          ...auditOptions(opts),
          ...outputsOptions(opts),
          onFinding: () => progress.finding(),
          onOutputFailures: (f) => (failures = f),
          onTraceStart: (s) => progress.traceStart(s),
        });
        progress.stop();
        const cut = summaries.filter((s) => s.cut);
        log[cut.length > 0 ? 'warn' : 'info'](
          {
            // processes first seen mid-stream and descriptors that named nothing known: how complete the picture was
            traces: summaries.map((s) => ({ file: s.file, events: s.events, findings: s.findings, elapsed_ms: Math.round(s.elapsedMs), unknown_processes: s.state.unknownProcesses, unresolved_fds: s.state.unresolved, ...(s.cut && { cut: s.cut }) })),
          },
          cut.length > 0 ? `done; ${cut.length} trace(s) cut off (replayed up to the last whole line)` : 'done',
        );
        for (const s of cut) process.stderr.write(`chainwatch: ${s.file}: cut off after line ${s.cut!.lastWholeLine}: ${s.cut!.reason}\n`);
        failOnOutputFailures(failures);
      } finally {
        progress.stop();
      }
    });
}
