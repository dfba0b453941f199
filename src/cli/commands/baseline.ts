import { Command } from 'commander';
import { learnBaseline, writeBaseline } from '../../pipeline/baseline-session.js';
import { loadBaseline } from '../../rules/baseline-file.js';
import { diffBaselines, showBaseline } from '../../rules/baseline-report.js';

export function baselineCommand(): Command {
  const c = new Command('baseline').summary('learn, show and compare per-intent behaviour baselines (docs/baselines.md)');
  c.command('learn')
    .description('learn a baseline of one intent from recorded benign runs (each task in the traces is one run)')
    .requiredOption('--intent <name>', 'the task intent these runs are examples of')
    .requiredOption('--out <file>', 'the baseline file to write (JSON)')
    .option('--tasks <glob>', 'only tasks whose name matches (default: every task in the traces)')
    .option('--rules <dir>', 'folder with data-classes.yaml and chains.yaml (default: the installed rules/)')
    .argument('<trace...>', 'traces recorded with chainwatch watch --record')
    .action(async (traces: string[], opts: { intent: string; out: string; tasks?: string; rules?: string }) => {
      const b = await learnBaseline({ intent: opts.intent, traces, ...(opts.tasks !== undefined && { tasks: opts.tasks }), ...(opts.rules !== undefined && { rulesDir: opts.rules }) });
      writeBaseline(b, opts.out);
      process.stdout.write(`${showBaseline(b)}\n`);
    });
  c.command('show')
    .description('print a baseline as readable tables')
    .argument('<file>')
    .action((file: string) => {
      process.stdout.write(`${showBaseline(loadBaseline(file))}\n`);
    });
  c.command('diff')
    .description('what changed between two baselines (exit 1 when anything did)')
    .argument('<a>')
    .argument('<b>')
    .action((a: string, b: string) => {
      const d = diffBaselines(loadBaseline(a), loadBaseline(b));
      process.stdout.write(`${d.text}\n`);
      if (d.changed) process.exitCode = 1;
    });
  return c;
}
