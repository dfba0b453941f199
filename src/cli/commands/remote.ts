import { Command, Option } from 'commander';
import { runAgentSession } from '../../pipeline/agent-session.js';
import type { LiveTarget } from '../../pipeline/live-session.js';
import { runServeSession } from '../../pipeline/serve-session.js';
import { adminReload, adminStatus } from '../../remote/admin-server.js';
import { issueCerts } from '../../remote/cert-authority.js';
import { failOnOutputFailures } from '../../sinks/output-failures.js';
import { ChainwatchError } from '../../util/errors.js';
import { moduleLog } from '../../util/log.js';
import { addAuditOptions, findingsFormatOption, findingsTextOption, addDeliveryOption, auditOptions, eventsKeepOption, eventsRotateOption, eventsRotation, hostPort, METRICS_HELP, metricsOption, oneStdoutStream, outputsOptions, policyFileOf, policyOptions, positiveInt, positiveNumber, stopOnSignals } from '../options.js';

const DEFAULT_ADMIN = './var/run/chainwatch-admin.sock';


function tlsOf(opts: Record<string, unknown>, cmd: string): { cert: string; key: string; ca: string } {
  for (const k of ['cert', 'key', 'ca']) {
    if (typeof opts[k] !== 'string') throw new ChainwatchError('USAGE', `${cmd} needs --cert, --key and --ca (mutual TLS)`, { fix: 'chainwatch certs --out DIR makes a CA and certificates' });
  }
  return { cert: String(opts.cert), key: String(opts.key), ca: String(opts.ca) };
}


export function agentCommand(): Command {
  const log = moduleLog('cli/agent');
  return addDeliveryOption(new Command('agent'))
    .summary('in a guest: run the probes and stream the events to chainwatch serve (mutual TLS)')
    .description('Runs the kernel probes in this guest and streams canonical events to the host correlator over gRPC with mutual TLS.\nEvents wait in a bounded on-disk spool until the host acknowledges them. The guest holds no policy.')
    .requiredOption('--connect <host:port>', 'chainwatch serve to stream to')
    .option('--cert <file>', "this sandbox's client certificate (chainwatch certs --sandbox NAME)")
    .option('--key <file>', 'its private key')
    .option('--ca <file>', 'the CA that issued the host certificate')
    .option('--server-name <name>', "name to check in the host's certificate (default: the --connect host)")
    .option('--sandbox <name>', "the sandbox this agent serves (checked against the certificate's)")
    .option('--spool <dir>', 'on-disk spool for unacknowledged events', './var/agent')
    .addOption(new Option('--spool-batches <n>', 'spool bound in batches of up to 256 events').argParser(positiveInt('--spool-batches')).default(2048))
    .option('--cgroup <path>', 'watch only this cgroup subtree of the guest (default: the whole guest)')
    .option('--duration <seconds>', 'stop after this many seconds', positiveNumber)
    .addOption(new Option('--ring-pages <n>', 'perf ring buffer pages per CPU').argParser(positiveInt('--ring-pages')).default(1024))
    .option('--metrics <host:port>', METRICS_HELP)
    .action(async (opts: Record<string, unknown>) => {
      hostPort(String(opts.connect), '--connect');
      const target: LiveTarget = opts.cgroup !== undefined ? { mode: 'cgroup', path: String(opts.cgroup) } : { mode: 'host' };
      const r = await runAgentSession({
        connect: String(opts.connect),
        tls: tlsOf(opts, 'agent'),
        ...(opts.serverName !== undefined && { serverName: String(opts.serverName) }),
        ...(opts.sandbox !== undefined && { sandbox: String(opts.sandbox) }),
        spoolDir: String(opts.spool),
        maxSpoolBatches: opts.spoolBatches as number,
        target,
        ringPages: opts.ringPages as number,
        pollUs: opts.pollUs as number,
        ...(opts.duration !== undefined && { durationS: opts.duration as number }),
        ...metricsOption(opts),
        stopSignal: stopOnSignals(log),
      });
      if (r.stream.dropped > 0 || r.stream.spooled > 0) log.warn({ dropped: r.stream.dropped, unacknowledged_batches: r.stream.spooled }, 'stopped with events dropped or not yet acknowledged');
    });
}

export function serveCommand(): Command {
  const log = moduleLog('cli/serve');
  return addAuditOptions(new Command('serve'))
    .summary('on the host: receive agent streams (mutual TLS) and run the pipeline; optionally watch the host too')
    .description(
      'Receives canonical events from chainwatch agents over gRPC with mutual TLS, attributes each stream to the sandbox its\n' +
        'client certificate names, and runs the one pipeline (state, flow, chain rules, policy, sinks) per sandbox.\n' +
        'The agent listener serves nothing else; status and policy reload are on the admin unix socket.',
    )
    .requiredOption('--listen <host:port>', 'address for agents (port 0: any free port, logged)')
    .option('--cert <file>', "the host's certificate (serverAuth)")
    .option('--key <file>', 'its private key')
    .option('--ca <file>', 'the CA that issues agent certificates')
    .option('--admin <socket>', 'admin unix socket (status, policy reload; mode 0600)', DEFAULT_ADMIN)
    .option('--state <dir>', 'sequence ledger kept across restarts', './var/serve')
    .option('--watch-host', 'also run the kernel probes on this host (the whole host, or --cgroup)')
    .option('--cgroup <path>', 'with --watch-host: only this cgroup subtree')
    .option('--findings <file|->', 'findings as JSON Lines, appended (- for stdout; the default)')
    .addOption(findingsFormatOption())
    .option('--events <file|->', 'resolved canonical events as JSON Lines, appended')
    .addOption(eventsRotateOption())
    .addOption(eventsKeepOption())
    .option('--rules <dir>', 'folder with data-classes.yaml and chains.yaml (default: the installed rules/)')
    .option('--policy <file>', 'capability policy (default: the installed rules/policy.yaml)')
    .option('--no-policy', 'no capability policy (chain rules only)')
    .option('--agent-timeout <seconds>', 'cut off and report an agent silent this long', positiveNumber, 10)
    .option('--metrics <host:port>', METRICS_HELP)
    .option('--lane-retire <seconds>', "how long a sandbox's analysis state outlives its agent stream before it is flushed and dropped (the same run reconnecting within it carries on)", positiveNumber, 600)
    .action(async (opts: Record<string, unknown>) => {
      if (opts.events === undefined && opts.findings === undefined) opts.findings = '-';
      oneStdoutStream(opts);
      const policyFile = policyFileOf(opts);
      const summary = await runServeSession({
        listen: hostPort(String(opts.listen), '--listen'),
        tls: tlsOf(opts, 'serve'),
        adminSocket: String(opts.admin),
        stateDir: String(opts.state),
        ...policyOptions(opts),
        ...(policyFile !== undefined && { policyFile }),
        ...auditOptions(opts),
        ...outputsOptions(opts),
        ...(opts.rules !== undefined && { rulesDir: String(opts.rules) }),
        ...(opts.findings !== undefined && { findings: String(opts.findings) }),
        ...findingsTextOption(opts),
        ...(opts.events !== undefined && { events: String(opts.events) }),
        ...eventsRotation(opts),
        ...(opts.watchHost === true && { watchHost: opts.cgroup !== undefined ? { mode: 'cgroup' as const, path: String(opts.cgroup) } : { mode: 'host' as const } }),
        ...metricsOption(opts),
        silenceMs: (opts.agentTimeout as number) * 1000,
        laneRetireMs: (opts.laneRetire as number) * 1000,
        onReady: (port) => log.info({ port }, 'ready'),
        onReloadRequest: (reload) => process.on('SIGHUP', () => reload()),
        stopSignal: stopOnSignals(log),
      });
      log.info({ summary: { ...summary, host: summary.host && { events: summary.host.events, lostEvents: summary.host.lostEvents } } }, 'done');
      failOnOutputFailures(summary.outputFailures);
    });
}

export function certsCommand(): Command {
  return new Command('certs')
    .summary('make a CA, a host certificate and agent certificates (for tests and small deployments)')
    .description('Makes (with openssl, ECDSA P-256) a CA in DIR unless one is there, a host certificate for the names agents\nconnect to, and one client certificate per sandbox naming it (URI SAN urn:chainwatch:sandbox:NAME).')
    .requiredOption('--out <dir>', 'folder for ca.pem, host.pem, agent-NAME.pem and their keys (mode 0700)')
    .option('--host <name...>', 'DNS names or IPs agents use to reach the host', [])
    .option('--sandbox <name...>', 'sandboxes to issue agent certificates for', [])
    .option('--days <n>', 'validity in days', positiveInt('--days'), 365)
    .action((opts: { out: string; host: string[]; sandbox: string[]; days: number }) => {
      if (opts.host.length === 0 && opts.sandbox.length === 0) throw new ChainwatchError('USAGE', 'nothing to issue', { fix: 'give --host NAME and/or --sandbox NAME' });
      const files = issueCerts({ dir: opts.out, hostNames: opts.host, sandboxes: opts.sandbox, days: opts.days });
      process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);
    });
}

export function adminCommand(): Command {
  const c = new Command('admin').summary('talk to a running chainwatch serve over its admin socket');
  c.command('status')
    .description('agents (connected, sequence numbers, gaps, drops, clock offsets), refused connections, the policy in force')
    .option('--admin <socket>', 'admin unix socket', DEFAULT_ADMIN)
    .action(async (opts: { admin: string }) => {
      process.stdout.write(`${JSON.stringify(await adminStatus(opts.admin), null, 2)}\n`);
    });
  c.command('reload')
    .description('re-read the rules and the policy file, checked against each other; when either is broken both are refused and the ones in force stay')
    .option('--admin <socket>', 'admin unix socket', DEFAULT_ADMIN)
    .action(async (opts: { admin: string }) => {
      const r = await adminReload(opts.admin);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      if (!r.ok) process.exitCode = 1;
    });
  return c;
}
