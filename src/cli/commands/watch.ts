import { Command, Option } from 'commander';
import { failOnOutputFailures } from '../../sinks/output-failures.js';
import { DEFAULT_MAX_HOLD_MS, runLiveSession, type LiveTarget } from '../../pipeline/live-session.js';
import { ChainwatchError } from '../../util/errors.js';
import { eventsKeepOption, findingsFormatOption, findingsTextOption, eventsRotateOption, eventsRotation, METRICS_HELP, metricsOption, addAuditOptions, addBaselineOptions, addDeliveryOption, auditOptions, byteSize, baselineOptions, oneStdoutStream, outputsOptions, policyFileOf, policyOptions, positiveInt, positiveNumber, stopOnSignals } from '../options.js';
import { moduleLog } from '../../util/log.js';

const log = moduleLog('cli/watch');

export function watchCommand(): Command {
  return addDeliveryOption(addBaselineOptions(addAuditOptions(new Command('watch'))))
    .summary('monitor live: the whole host, a cgroup subtree, a pid tree, or a command')
    .description(
      'Attach the kernel probes and stream canonical, resolved events.\n' +
        'Without --cgroup/--pid/--, the whole host is watched (chainwatch itself excluded).\n' +
        'With -- COMMAND, the command runs as the watched task and watching stops when it exits.',
    )
    .argument('[command...]', 'command to run as the watched task (after --)')
    .option('--cgroup <path>', 'watch a cgroup v2 subtree (path below the cgroup v2 mount); the task is its name')
    .option('--pid <pid>', 'watch a process and all its descendants', positiveInt('--pid'))
    .option('--task <name>', 'task name for --pid or -- COMMAND (default pid-PID or the command name)')
    .option('--task-per-cgroup', 'with --cgroup: each child cgroup is a task of its own, named after it (one sandbox or run per child)')
    .option('--findings <file|->', 'write findings as JSON Lines (- for stdout; the default when no output is chosen); a file is appended to')
    .addOption(findingsFormatOption())
    .option('--events <file|->', 'write resolved canonical events as JSON Lines (- for stdout); a file is appended to')
    .addOption(eventsRotateOption())
    .addOption(eventsKeepOption())
    .option('--rules <dir>', 'folder with data-classes.yaml (default: the installed rules/)')
    .option('--record <file>', 'record the trace (header + canonical events) for replay; an earlier trace at that path is moved aside (NAME.1.EXT), not overwritten')
    .addOption(new Option('--record-rotate <size>', 'with --record: start a new segment every SIZE of JSON (e.g. 256M); earlier ones are moved aside as NAME.N.EXT, and each starts with the state so it replays on its own').argParser(byteSize('--record-rotate')))
    .addOption(new Option('--record-keep <n>', 'with --record-rotate: keep this many earlier segments of the run (the oldest are removed)').argParser(positiveInt('--record-keep')))
    .option('--policy <file>', 'capability policy (default: the installed rules/policy.yaml)')
    .option('--no-policy', 'no capability policy (chain rules only)')
    .option('--enforce', 'kill processes that violate an intent with on_violation: kill (default: dry run, findings say would-kill)')
    .option('--duration <seconds>', 'stop after this many seconds', positiveNumber)
    .option('--metrics <host:port>', METRICS_HELP)
    .addOption(new Option('--ring-pages <n>', 'perf ring buffer pages per CPU').argParser(positiveInt('--ring-pages')).default(1024))
    .addOption(new Option('--reorder-ms <n>', 'longest an event waits for proof that no earlier one can still arrive (kernel time order)').argParser(positiveInt('--reorder-ms')).default(DEFAULT_MAX_HOLD_MS))
    .action(async (command: string[], opts: Record<string, unknown>) => {
      const targets = [opts.cgroup !== undefined, opts.pid !== undefined, command.length > 0].filter(Boolean).length;
      if (targets > 1) throw new ChainwatchError('USAGE', 'choose one of --cgroup, --pid or -- COMMAND', { fix: 'chainwatch watch --help' });
      const target: LiveTarget =
        opts.cgroup !== undefined
          ? { mode: 'cgroup', path: String(opts.cgroup) }
          : opts.pid !== undefined
            ? { mode: 'pid', pid: opts.pid as number }
            : command.length > 0
              ? { mode: 'command', argv: command }
              : { mode: 'host' };
      const rotation = eventsRotation(opts);
      if ((opts.recordRotate !== undefined || opts.recordKeep !== undefined) && opts.record === undefined) {
        throw new ChainwatchError('USAGE', '--record-rotate and --record-keep need --record FILE', { fix: 'chainwatch watch --record /var/lib/chainwatch/host.trace.jsonl.zst --record-rotate 256M --record-keep 20' });
      }
      if (opts.recordKeep !== undefined && opts.recordRotate === undefined) {
        throw new ChainwatchError('USAGE', '--record-keep needs --record-rotate SIZE (without rotation there is one file)', { fix: 'add --record-rotate 256M' });
      }
      if (opts.events === undefined && opts.record === undefined && opts.findings === undefined) opts.findings = '-';
      oneStdoutStream(opts);
      const stopSignal = stopOnSignals(log, 'stopping: reading what the probe still holds');
      const policyFile = policyFileOf(opts);
      const summary = await runLiveSession({
        target,
        stopSignal,
        ringPages: opts.ringPages as number,
        pollUs: opts.pollUs as number,
        reorderMs: opts.reorderMs as number,
        ...policyOptions(opts),
        ...baselineOptions(opts),
        ...(policyFile !== undefined && { policyFile }),
        onReloadRequest: (reload: () => void) =>
          process.on('SIGHUP', () => {
            log.info('SIGHUP: reloading the rules and the policy');
            reload();
          }),
        enforce: opts.enforce === true,
        ...auditOptions(opts),
        ...outputsOptions(opts),
        ...(opts.task !== undefined && { task: String(opts.task) }),
        ...(opts.taskPerCgroup === true && { taskPerCgroup: true }),
        ...(opts.events !== undefined && { events: String(opts.events) }),
        ...(opts.findings !== undefined && { findings: String(opts.findings) }),
        ...findingsTextOption(opts),
        ...(opts.rules !== undefined && { rulesDir: String(opts.rules) }),
        ...(opts.record !== undefined && { record: String(opts.record) }),
        ...(opts.recordRotate !== undefined && { recordRotateBytes: opts.recordRotate as number }),
        ...(opts.recordKeep !== undefined && { recordKeep: opts.recordKeep as number }),
        ...rotation,
        ...(opts.duration !== undefined && { durationS: opts.duration as number }),
        ...metricsOption(opts),
      });
      const level = summary.lostEvents > 0 || summary.malformedLines > 0 ? 'warn' : 'info';
      log[level]({ summary }, summary.lostEvents > 0 ? `done; ${summary.lostEvents} kernel events were LOST` : 'done');
      failOnOutputFailures(summary.outputFailures);
    });
}
