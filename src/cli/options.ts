import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_SCORING, type ScoringOptions } from '../correlate/baseline-scorer.js';
import { loadBaseline } from '../rules/baseline-file.js';
import type { Baseline } from '../schema/baseline.js';
import { ChainwatchError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { AuditSettings } from '../pipeline/audit-trail.js';
import { loadYamlFile } from '../rules/yaml-file.js';
import { OutputsFile } from '../schema/outputs.js';
import { DataClasses } from '../rules/data-classes.js';
import { defaultPolicyFile, loadPolicy, type LoadedPolicy } from '../rules/policy-file.js';
import type { FindingTextOptions } from '../sinks/finding-text.js';

/** Commander argument parsers shared by the commands. */
export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** --poll-us: batched delivery of the probe's records (0: bpftrace is woken for every record, as it does by itself). */
export function addDeliveryOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--poll-us <n>', 'how often bpftrace checks its buffers for records, in microseconds (batched delivery; 0: woken for every record)')
      .argParser((v: string): number => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 1_000_000) throw new InvalidArgumentError('--poll-us must be an integer from 0 to 1000000');
        return n;
      })
      .default(1000),
  );
}

/** A size such as 512M, 1G, 64K or a number of bytes (binary units). */
export function byteSize(name: string) {
  return (v: string): number => {
    const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(v.trim());
    const n = m === null ? NaN : Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
    if (!Number.isFinite(n) || n < 2 ** 20) throw new InvalidArgumentError(`${name} must be a size of at least 1M, such as 256M, 1G or 1048576 (bytes)`);
    return Math.floor(n);
  };
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** `--policy FILE` / `--no-policy` (commander sets policy=false) / default: the installed rules/policy.yaml. */
export function policyOptions(opts: Record<string, unknown>): { policy?: LoadedPolicy } {
  const file = policyFileOf(opts);
  return file === undefined ? {} : { policy: loadPolicy(file, DataClasses.namesIn(typeof opts.rules === 'string' ? opts.rules : undefined)) };
}

/** The policy file the options name (undefined with --no-policy): the one loaded at start and on reload. */
export function policyFileOf(opts: Record<string, unknown>): string | undefined {
  if (opts.policy === false) return undefined;
  return typeof opts.policy === 'string' ? opts.policy : defaultPolicyFile(typeof opts.rules === 'string' ? opts.rules : undefined);
}

/** `--audit DIR` (default ./var/audit) / `--no-audit` / `--audit-key FILE`. */
export function auditOptions(opts: Record<string, unknown>): { audit?: AuditSettings } {
  if (opts.audit === false) return {};
  return {
    audit: {
      dir: typeof opts.audit === 'string' ? opts.audit : './var/audit',
      ...(typeof opts.auditKey === 'string' && { keyFile: opts.auditKey }),
      ...(typeof opts.auditRetain === 'number' && { retainDays: opts.auditRetain }),
      ...(opts.auditFsync === 'record' && { fsyncEach: true }),
    },
  };
}

/** The audit options, the same on every command that runs the pipeline. */
export function addAuditOptions(c: Command): Command {
  return c
    .option('--audit <dir>', 'tamper-evident audit log directory (default ./var/audit; docs/audit.md)')
    .option('--no-audit', 'no audit log')
    .option('--audit-key <file>', 'Ed25519 signing key (chainwatch audit keygen); default DIR/audit-key.pem, made on first use')
    .addOption(new Option('--audit-fsync <when>', 'fsync the audit log at every record, or only at checkpoints and close').choices(['checkpoint', 'record']).default('checkpoint'))
    .option('--audit-retain <days>', 'remove audit segments older than DAYS, leaving a signed anchor so verify still passes', positiveInt('--audit-retain'))
    .option('--outputs <file>', 'SIEM outputs: syslog over TLS/TCP/UDP with OCSF, CEF, ECS or JSON; JSON Lines files (docs/siem.md)');
}

/** `--outputs FILE`: SIEM outputs (docs/siem.md), validated with FILE:LINE:COL errors. */
export function outputsOptions(opts: Record<string, unknown>): { outputs?: OutputsFile } {
  return typeof opts.outputs === 'string' ? { outputs: loadYamlFile(opts.outputs, OutputsFile, OUTPUTS_EXAMPLE) } : {};
}

const OUTPUTS_EXAMPLE = `version: 1
outputs:
  - name: soc
    type: syslog
    transport: tls
    address: siem.example:6514
    format: ocsf
    tls: { ca: /etc/chainwatch/ca.pem, cert: /etc/chainwatch/client.pem, key: /etc/chainwatch/client.key }
    route: { min_severity: medium }`;

/** `--baseline FILE` (repeatable: one per intent), `--baseline-slack X`, `--no-baseline-transitions` (docs/baselines.md). */
export function addBaselineOptions(c: Command): Command {
  return c
    .option('--baseline <file>', 'score each task against the baseline of its intent (chainwatch baseline learn; repeat for more intents); one file covers every task when only one is given', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--baseline-slack <x>', 'widen the learned p1-p99 ranges by this fraction before a value counts as a deviation', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('--baseline-slack must be a number >= 0');
      return n;
    })
    .option('--no-baseline-transitions', 'do not score transitions between event kinds (sets and distributions only)');
}

export function baselineOptions(opts: Record<string, unknown>): { baselines?: Baseline[]; scoring?: ScoringOptions } {
  if (!Array.isArray(opts.baseline)) return {};
  return {
    baselines: (opts.baseline as string[]).map((f) => loadBaseline(f)),
    scoring: {
      ...DEFAULT_SCORING,
      ...(typeof opts.baselineSlack === 'number' && { slack: opts.baselineSlack }),
      transitions: opts.baselineTransitions !== false,
    },
  };
}

/** Resolves on the first SIGINT or SIGTERM (logged): long-running commands stop on it. */
export function stopOnSignals(log: Logger, message = 'stopping'): Promise<void> {
  return new Promise<void>((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      log.info({ signal: sig }, message);
      resolve();
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}

/** `--events -` and `--findings -` would interleave on stdout. */
export function oneStdoutStream(opts: Record<string, unknown>): void {
  if (opts.events === '-' && opts.findings === '-') throw new ChainwatchError('USAGE', '--events - and --findings - cannot share stdout', { fix: 'send one of them to a file' });
}

/** `HOST:PORT` or `[V6]:PORT`; a usage error naming the flag otherwise. */
export function hostPort(v: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ChainwatchError('USAGE', `${flag} ${v}: expected HOST:PORT`, { fix: `e.g. ${flag} 127.0.0.1:${flag === '--metrics' ? 9464 : 7443}` });
  return { host: (m[1] ?? m[2])!, port };
}

/** --metrics HOST:PORT (Prometheus, docs/metrics.md), for watch and serve. */
export function metricsOption(opts: Record<string, unknown>): { metrics?: { host: string; port: number } } {
  return opts.metrics === undefined ? {} : { metrics: hostPort(String(opts.metrics), '--metrics') };
}

export const METRICS_HELP = 'serve Prometheus metrics at http://HOST:PORT/metrics (docs/metrics.md; e.g. 127.0.0.1:9464)';

/** --events-rotate SIZE and --events-keep N (watch, serve; placed after --events), read with `eventsRotation`. */
export const eventsRotateOption = (): Option =>
  new Option('--events-rotate <size>', 'with --events FILE: a new file every SIZE (e.g. 256M); earlier ones are moved aside as NAME.N.EXT').argParser(byteSize('--events-rotate'));
export const eventsKeepOption = (): Option => new Option('--events-keep <n>', 'with --events-rotate: keep this many earlier files (the oldest are removed)').argParser(positiveInt('--events-keep'));

/** --events-rotate SIZE / --events-keep N (watch, serve): refused without --events FILE, and keep without rotate. */
export function eventsRotation(opts: Record<string, unknown>): { eventsRotate?: { bytes: number; keep?: number } } {
  if (opts.eventsRotate === undefined && opts.eventsKeep === undefined) return {};
  if (opts.events === undefined || opts.events === '-') {
    throw new ChainwatchError('USAGE', '--events-rotate and --events-keep need --events FILE', { fix: 'e.g. --events /var/log/chainwatch/events.jsonl --events-rotate 256M --events-keep 10' });
  }
  if (opts.eventsRotate === undefined) throw new ChainwatchError('USAGE', '--events-keep needs --events-rotate SIZE (without rotation there is one file)', { fix: 'add --events-rotate 256M' });
  return { eventsRotate: { bytes: opts.eventsRotate as number, ...(opts.eventsKeep !== undefined && { keep: opts.eventsKeep as number }) } };
}

export const findingsFormatOption = (): Option =>
  new Option('--findings-format <format>', 'findings as JSON Lines (json) or as text for a person (text); default: text when they go to a terminal, json to a file or a pipe').choices(['json', 'text']);

/** --findings-format: text for a person when findings go to a terminal (coloured unless NO_COLOR is set), JSON Lines otherwise. Call once --findings is settled. */
export function findingsTextOption(opts: Record<string, unknown>): { findingsText?: FindingTextOptions } {
  const toTerminal = opts.findings === '-' && process.stdout.isTTY === true;
  const format = (opts.findingsFormat as string | undefined) ?? (toTerminal ? 'text' : 'json');
  if (format === 'json') return {};
  return { findingsText: { color: toTerminal && !process.env.NO_COLOR } };
}
