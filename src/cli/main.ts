#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../util/version.js';
import { ChainwatchError } from '../util/errors.js';
import { rootLog } from '../util/log.js';
import { auditCommand } from './commands/audit.js';
import { baselineCommand } from './commands/baseline.js';
import { policyCommand } from './commands/policy.js';
import { replayCommand } from './commands/replay.js';
import { rulesCommand } from './commands/rules.js';
import { adminCommand, agentCommand, certsCommand, serveCommand } from './commands/remote.js';
import { schemaCommand } from './commands/schema.js';
import { doctorCommand } from './commands/doctor.js';
import { loadCommand, queryCommand } from './commands/sql.js';
import { watchCommand } from './commands/watch.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

// Node's own warnings go to the log as JSON like everything else on stderr. DEP0123 is grpc-js setting the
// TLS server name to an IP when an agent dials an address (harmless: the certificate is checked against the IP SAN).
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => rootLog[w.code === 'DEP0123' ? 'debug' : 'warn']({ code: w.code, name: w.name }, w.message));

const program = new Command('chainwatch')
  .description('eBPF runtime behaviour correlator for sandboxed AI-agent workloads')
  .version(VERSION)
  .exitOverride()
  .showHelpAfterError()
  .addCommand(watchCommand())
  .addCommand(serveCommand())
  .addCommand(agentCommand())
  .addCommand(certsCommand())
  .addCommand(adminCommand())
  .addCommand(replayCommand())
  .addCommand(loadCommand())
  .addCommand(queryCommand())
  .addCommand(rulesCommand())
  .addCommand(policyCommand())
  .addCommand(auditCommand())
  .addCommand(baselineCommand())
  .addCommand(schemaCommand())
  .addCommand(doctorCommand());
// addCommand() does not pass these settings on: every subcommand reports usage errors through us (exit 2)
const settle = (c: Command): void => {
  for (const sub of c.commands) {
    sub.exitOverride().showHelpAfterError();
    settle(sub);
  }
};
settle(program);

try {
  await program.parseAsync(process.argv);
  // a command may have set its own (policy diff: 1 when a change needs review)
  process.exitCode ??= EXIT.OK;
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else if (e instanceof ChainwatchError) {
    rootLog.error({ code: e.code, where: e.where, fix: e.fix }, e.message);
    process.stderr.write(`chainwatch: ${e.describe()}\n`);
    process.exitCode = exitCodeFor(e.code);
  } else {
    const err = e as Error;
    rootLog.error({ err: { message: err.message, name: err.name } }, 'unexpected failure');
    process.stderr.write(`chainwatch: unexpected failure: ${err.message}\n`);
    process.exitCode = EXIT.FAILURE;
  }
}
