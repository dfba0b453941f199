import { readFileSync } from 'node:fs';
import { Baseline } from '../schema/baseline.js';
import { ChainwatchError, formatIssues } from '../util/errors.js';

/** Reads and validates a baseline file (chainwatch baseline learn makes them). */
export function loadBaseline(file: string): Baseline {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ChainwatchError('RULE_INVALID', `not a readable JSON baseline: ${(e as Error).message}`, { where: file, fix: 'make one with chainwatch baseline learn --intent NAME TRACE… --out FILE' });
  }
  const b = Baseline.safeParse(raw);
  if (!b.success) {
    throw new ChainwatchError('RULE_INVALID', `not a chainwatch baseline: ${formatIssues(b.error.issues)}`, { where: file, fix: 'baselines are written by chainwatch baseline learn; do not edit them by hand (learn again instead)' });
  }
  return b.data;
}
