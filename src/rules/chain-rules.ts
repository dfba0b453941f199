import { join } from 'node:path';
import { ChainRuleFile, stepAlternatives } from '../schema/chain-rule.js';
import { ChainwatchError } from '../util/errors.js';
import { packageDir } from '../util/package-dir.js';
import { loadYamlFile, parseYamlText } from './yaml-file.js';

export const CHAIN_RULE_EXAMPLE = `version: 1
rules:
  - id: exfil.read-then-transmit
    category: exfiltration
    severity: high
    why: sensitive data reached a network socket
    sequence:
      by: flow
      steps:
        - match: { kind: flow.transmit }`;

/**
 * Reads and checks a chain-rule file. With `classes` (the names in
 * data-classes.yaml), a `data_class` value that names no class is refused
 * with its place: such a test would never hold.
 */
export function loadChainRules(file: string, classes?: readonly string[]): ChainRuleFile {
  return loadYamlFile(file, schemaFor(classes), CHAIN_RULE_EXAMPLE);
}

export function parseChainRules(text: string, file = '<inline>', classes?: readonly string[]): ChainRuleFile {
  return parseYamlText(text, file, schemaFor(classes), CHAIN_RULE_EXAMPLE);
}

function schemaFor(classes: readonly string[] | undefined): typeof ChainRuleFile {
  if (classes === undefined) return ChainRuleFile;
  const known = new Set(classes);
  return ChainRuleFile.superRefine((f, ctx) =>
    f.rules.forEach((r, i) =>
      r.sequence.steps.forEach((step, j) => {
        for (const [at, m] of stepAlternatives(step)) {
          const t = m['data_class'];
          if (t === undefined) continue;
          const inNot = typeof t === 'object' && !Array.isArray(t);
          const named = inNot ? t.not : t;
          for (const v of named === undefined ? [] : Array.isArray(named) ? named : [named]) {
            if (typeof v === 'string' && !known.has(v)) {
              ctx.addIssue({ code: 'custom', path: ['rules', i, 'sequence', 'steps', j, ...at, 'data_class', ...(inNot ? ['not'] : [])], message: `no data class ${JSON.stringify(v)} in data-classes.yaml (classes: ${classes.join(', ')})` });
            }
          }
        }
      }),
    ),
  );
}

/** rules/chains.yaml of this installation, or of `rulesDir`. */
export function chainRulesFile(rulesDir?: string): string {
  const dir = rulesDir ?? packageDir('rules', 'chains.yaml');
  if (dir === undefined) throw new ChainwatchError('RULE_INVALID', 'cannot find rules/chains.yaml', { fix: 'pass --rules DIR' });
  return join(dir, 'chains.yaml');
}
