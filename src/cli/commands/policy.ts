import { Command } from 'commander';
import { stringify } from 'yaml';
import { DataClasses } from '../../rules/data-classes.js';
import { diffPolicies } from '../../rules/policy-diff.js';
import { loadPolicy } from '../../rules/policy-file.js';

export function policyCommand(): Command {
  const cmd = new Command('policy').summary('check and review capability policies').description('Validate a policy and review changes (docs/policy.md).');
  cmd
    .command('check')
    .description('validate FILE (with its includes) and print the effective policy and its SHA-256')
    .argument('<file>', 'policy YAML (e.g. rules/policy.yaml)')
    .option('--json', 'print the effective policy as JSON instead of YAML')
    .option('--rules <dir>', 'the folder whose data-classes.yaml defines the classes the policy names (default: the installed rules/)')
    .action((file: string, opts: { json?: boolean; rules?: string }) => {
      const p = loadPolicy(file, DataClasses.namesIn(opts.rules));
      process.stdout.write(opts.json ? `${JSON.stringify(p.effective, null, 2)}\n` : `# effective policy of ${file}${p.files.length > 1 ? ` (+ ${p.files.length - 1} included)` : ''}\n${stringify(p.effective, { lineWidth: 0 })}`);
      process.stdout.write(`${opts.json ? '' : '# '}sha256: ${p.sha256}\n`);
    });
  cmd
    .command('diff')
    .description('what changes from OLD to NEW: capabilities added, removed, widened, narrowed; exit 1 when anything was added or widened')
    .argument('<old>', 'the policy in force')
    .argument('<new>', 'the proposed policy')
    .option('--json', 'JSON Lines, one change per line')
    .option('--rules <dir>', 'the folder whose data-classes.yaml defines the classes the new policy names (default: the installed rules/)')
    .action((oldFile: string, newFile: string, opts: { json?: boolean; rules?: string }) => {
      // the policy in force is compared as it is; the proposed one must name only classes that exist
      const a = loadPolicy(oldFile);
      const b = loadPolicy(newFile, DataClasses.namesIn(opts.rules));
      const changes = diffPolicies(a.effective, b.effective);
      if (opts.json) process.stdout.write(changes.map((c) => `${JSON.stringify(c)}\n`).join(''));
      else {
        process.stdout.write(`old ${a.sha256}\nnew ${b.sha256}\n`);
        if (changes.length === 0) process.stdout.write('no capability changes\n');
        const mark = { added: '+', widened: '↑', removed: '-', narrowed: '↓', changed: '~' } as const;
        for (const c of changes) process.stdout.write(`${mark[c.change]} ${c.change.padEnd(8)} ${c.intent} ${c.kind} ${c.id}: ${c.detail}\n`);
      }
      // a review gate: more power needs a second look
      if (changes.some((c) => c.change === 'added' || c.change === 'widened' || c.change === 'changed')) process.exitCode = 1;
    });
  return cmd;
}
