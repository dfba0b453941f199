import { join } from 'node:path';
import { ChainRuleFile } from '../schema/chain-rule.js';
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

export function loadChainRules(file: string): ChainRuleFile {
  return loadYamlFile(file, ChainRuleFile, CHAIN_RULE_EXAMPLE);
}

export function parseChainRules(text: string, file = '<inline>'): ChainRuleFile {
  return parseYamlText(text, file, ChainRuleFile, CHAIN_RULE_EXAMPLE);
}

/** rules/chains.yaml of this installation, or of `rulesDir`. */
export function chainRulesFile(rulesDir?: string): string {
  const dir = rulesDir ?? packageDir('rules', 'chains.yaml');
  if (dir === undefined) throw new ChainwatchError('RULE_INVALID', 'cannot find rules/chains.yaml', { fix: 'pass --rules DIR' });
  return join(dir, 'chains.yaml');
}
