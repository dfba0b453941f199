import { Command } from 'commander';
import { runRuleTests, type RuleCaseResult } from '../../pipeline/rule-test-session.js';
import { chainRulesFile } from '../../rules/chain-rules.js';
import { DataClasses } from '../../rules/data-classes.js';
import { headline } from '../../rules/finding-diff.js';
import { loadPolicy } from '../../rules/policy-file.js';
import { loadRuleSet } from '../../rules/rule-set.js';
import type { Finding } from '../../schema/finding.js';
import type { FileDigest } from '../../schema/trace-header.js';
import { FACT_KINDS, RULE_FIELDS, type FieldInfo } from '../../schema/rule-fields.js';
import { EXIT } from '../exit-codes.js';

function table(rows: string[][], indent = '  '): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n');
}

const typeText = (f: FieldInfo): string => (f.values !== undefined ? [...f.values].join(' | ') : [...f.types].join(' | '));

export function rulesCommand(): Command {
  const cmd = new Command('rules').summary('check chain rules and data classes, list what rules can match, test rules against recorded traces').description('Chain rules and data classes (rules/; docs/rules.md).');
  cmd
    .command('check')
    .description('validate data-classes.yaml and chains.yaml (every field, kind and value a rule names must exist) and list them with their SHA-256')
    .option('--rules <dir>', 'folder with data-classes.yaml and chains.yaml (default: the installed rules/)')
    .option('--json', 'print the rules and classes as JSON')
    .action((opts: { rules?: string; json?: boolean }) => {
      const { classes, chains, digests } = loadRuleSet(opts.rules);
      const [classesDigest, chainsDigest] = digests as [FileDigest, FileDigest];
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ data_classes: { ...classesDigest, classes: classes.file.classes }, chain_rules: { ...chainsDigest, rules: chains.rules } }, null, 2)}\n`);
        return;
      }
      const out = [`${classesDigest.file}  sha256 ${classesDigest.sha256}`];
      out.push(table([['class', 'paths', 'why'], ...Object.entries(classes.file.classes).map(([n, c]) => [n, String(c.paths.length), c.why])]));
      out.push('', `${chainsDigest.file}  sha256 ${chainsDigest.sha256}`);
      out.push(
        table([
          ['rule', 'category', 'severity', 'by', 'steps', 'maxspan'],
          ...chains.rules.map((r) => [r.id, r.category, r.severity, r.sequence.by, String(r.sequence.steps.length), r.sequence.maxspan === undefined ? '-' : `${r.sequence.maxspan / 1e9}s`]),
        ]),
      );
      out.push('', `ok: ${chains.rules.length} chain rules, ${Object.keys(classes.file.classes).length} data classes; every kind, field and value they name exists`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
  cmd
    .command('fields')
    .description('what chain rules can match: every kind of event and flow fact, with its fields and their types or values')
    .argument('[kind...]', 'only these kinds (e.g. io flow.transmit)')
    .option('--json', 'print as JSON: kind → field → {types, values}')
    .action((kinds: string[], opts: { json?: boolean }) => {
      const unknown = kinds.filter((k) => !RULE_FIELDS.has(k));
      if (unknown.length > 0) {
        process.stderr.write(`chainwatch: no input has kind ${unknown.join(', ')} (kinds: ${[...RULE_FIELDS.keys()].join(', ')})\n`);
        process.exitCode = EXIT.USAGE;
        return;
      }
      const chosen = kinds.length > 0 ? kinds : [...RULE_FIELDS.keys()];
      if (opts.json) {
        const o: Record<string, Record<string, { types: string[]; values?: string[] }>> = {};
        for (const k of chosen) o[k] = Object.fromEntries([...RULE_FIELDS.get(k)!].map(([p, f]) => [p, { types: [...f.types], ...(f.values && { values: [...f.values] }) }]));
        process.stdout.write(`${JSON.stringify(o, null, 2)}\n`);
        return;
      }
      const out: string[] = [];
      for (const k of chosen) {
        const fields = [...RULE_FIELDS.get(k)!].filter(([p]) => p !== 'kind').sort(([a], [b]) => a.localeCompare(b));
        out.push(`${k} (${FACT_KINDS.includes(k) ? 'flow fact' : 'event'})`, table(fields.map(([p, f]) => [p, typeText(f)])), '');
      }
      out.push('`#` is any list index (argv.1); res.KEY is what the descriptor in field KEY points at, as the state resolved it.');
      process.stdout.write(`${out.join('\n')}\n`);
    });
  cmd
    .command('test')
    .description(
      'replay each recorded trace through the rules and compare its findings with the ones it must yield (NAME.findings.jsonl beside NAME.trace.jsonl.gz): a detection lost, a new one, or a changed verdict fails; exit 1 on a failure, 5 on a broken case',
    )
    .argument('[case...]', 'trace files or folders of them (default: the shipped replays/)')
    .option('--rules <dir>', 'the rules under test: a folder with data-classes.yaml and chains.yaml (default: the installed rules/)')
    .option('--policy <file>', 'also apply this capability policy (default: none, as the shipped cases were recorded)')
    .option('--accept', 'write what the rules find now as the expectations of each case that differs or has none (review the change before you commit it)')
    .option('--json', 'one JSON object per case')
    .action(async (cases: string[], opts: { rules?: string; policy?: string; accept?: boolean; json?: boolean }) => {
      const policy = opts.policy === undefined ? undefined : loadPolicy(opts.policy, DataClasses.namesIn(opts.rules));
      const print = (r: RuleCaseResult): void => {
        if (opts.json) {
          const brief = (f: Finding) => ({ id: f.id, rule: f.rule, headline: headline(f) });
          const d = r.diff;
          process.stdout.write(
            `${JSON.stringify({
              case: r.name,
              trace: r.trace,
              expectations: r.expectations,
              status: r.status,
              expected: r.expected,
              found: r.got,
              ...(r.error !== undefined && { error: r.error }),
              ...(r.cutAfterLine !== undefined && { cut_after_line: r.cutAfterLine }),
              ...(d && {
                missing: d.missing.map(brief),
                unexpected: d.unexpected.map(brief),
                changed: d.changed.map((c) => ({ ...brief(c.got), fields: Object.fromEntries(c.fields.map(([k, a, b]) => [k, { expected: a ?? null, found: b ?? null }])) })),
              }),
            })}\n`,
          );
          return;
        }
        const mark = { pass: 'pass', fail: 'FAIL', accepted: 'accepted', error: 'ERROR' }[r.status];
        const lines = [`${mark.padEnd(8)} ${r.name.padEnd(24)} ${r.status === 'error' ? r.error : `${r.expected} expected, ${r.got} found`}${r.cutAfterLine !== undefined ? ` (trace cut off after line ${r.cutAfterLine})` : ''}`];
        for (const f of r.diff?.missing ?? []) lines.push(`         - ${headline(f)}  [no longer found]`);
        for (const f of r.diff?.unexpected ?? []) lines.push(`         + ${headline(f)}  [new]`);
        for (const c of r.diff?.changed ?? []) lines.push(`         ~ ${headline(c.got)}: ${c.fields.map(([k, a, b]) => `${k} ${JSON.stringify(a ?? null)} → ${JSON.stringify(b ?? null)}`).join('; ')}`);
        if (r.status === 'accepted') lines.push(`         wrote ${r.got} finding(s) to ${r.expectations}: review the change before committing it`);
        process.stdout.write(`${lines.join('\n')}\n`);
      };
      const results = await runRuleTests({ cases, rulesDir: opts.rules, policy, accept: opts.accept ?? false, onResult: print });
      const count = (s: RuleCaseResult['status']): number => results.filter((r) => r.status === s).length;
      if (!opts.json) {
        process.stdout.write(
          `${results.length} case(s): ${count('pass')} passed, ${count('fail')} failed${count('accepted') ? `, ${count('accepted')} accepted` : ''}${count('error') ? `, ${count('error')} broken` : ''} (rules: ${chainRulesFile(opts.rules)}; policy: ${policy ? `${opts.policy} ${policy.sha256.slice(0, 12)}` : 'none'})\n`,
        );
      }
      process.exitCode = count('error') > 0 ? EXIT.INPUT : count('fail') > 0 ? EXIT.FAILURE : EXIT.OK;
    });
  return cmd;
}
