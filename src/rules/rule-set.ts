import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ChainRuleFile } from '../schema/chain-rule.js';
import type { FileDigest } from '../schema/trace-header.js';
import { ChainwatchError } from '../util/errors.js';
import { chainRulesFile, parseChainRules } from './chain-rules.js';
import { DataClasses } from './data-classes.js';

/**
 * The detection rules in force: the data classes and the chain rules of one
 * rules folder, checked against each other (every `data_class` a rule names
 * exists), with the SHA-256 of each file as read. The digests go into the
 * trace header and the audit log's start and reload records, so every
 * finding can be traced to the exact rules that made it.
 */
export interface RuleSet {
  classes: DataClasses;
  chains: ChainRuleFile;
  digests: FileDigest[];
}

export function loadRuleSet(rulesDir?: string): RuleSet {
  const classesFile = DataClasses.defaultFile(rulesDir);
  const chainsFile = chainRulesFile(rulesDir);
  // read once: the digest is of the bytes that were parsed
  const classesText = readRules(classesFile);
  const chainsText = readRules(chainsFile);
  const classes = DataClasses.parse(classesText, classesFile);
  const chains = parseChainRules(chainsText, chainsFile, classes.names.names);
  const sha = (t: string): string => createHash('sha256').update(t).digest('hex');
  return { classes, chains, digests: [{ file: classesFile, sha256: sha(classesText) }, { file: chainsFile, sha256: sha(chainsText) }] };
}

function readRules(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ChainwatchError('RULE_INVALID', `cannot read ${file}: ${(e as Error).message}`, { where: file, fix: 'pass --rules DIR, a folder holding data-classes.yaml and chains.yaml' });
  }
}

/** Whether two rule sets are the same files' same bytes. */
export const sameRules = (a: FileDigest[] | undefined, b: FileDigest[] | undefined): boolean => JSON.stringify(a?.map((d) => d.sha256) ?? null) === JSON.stringify(b?.map((d) => d.sha256) ?? null);
