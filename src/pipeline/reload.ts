import { loadPolicy, type LoadedPolicy } from '../rules/policy-file.js';
import { loadRuleSet, sameRules, type RuleSet } from '../rules/rule-set.js';
import { ChainwatchError } from '../util/errors.js';
import { moduleLog } from '../util/log.js';
import type { AuditTrail } from './audit-trail.js';

const log = moduleLog('pipeline/reload');

/** What a reload read: the rules and the policy to put in force, or why neither may be. */
export type ReloadOutcome =
  | { ok: true; rules: RuleSet; policy: LoadedPolicy | undefined; rulesChanged: boolean }
  | { ok: false; what: 'rules' | 'policy'; why: string };

/**
 * A reload (watch: SIGHUP; serve: `admin reload`) reads the rules and the
 * policy again and checks them against each other (the policy may only name
 * classes the new data-classes.yaml defines) before either is put in force:
 * both, or, when either is broken, neither. The outcome is logged and
 * recorded in the audit log (`rules-reload` when the rules changed or were
 * refused, `policy-reload` for the policy); the caller puts it in force.
 */
export function readForReload(
  files: { rulesDir?: string | undefined; policyFile?: string | undefined },
  inForce: { rules: RuleSet; policySha256: string | null },
  audit: AuditTrail | undefined,
): ReloadOutcome {
  const refuse = (what: 'rules' | 'policy', e: unknown): ReloadOutcome => {
    const why = e instanceof ChainwatchError ? e.describe() : (e as Error).message;
    log.error({ rules: files.rulesDir ?? 'rules/', policy: files.policyFile ?? null, error: why, rules_in_force: inForce.rules.digests, policy_in_force: inForce.policySha256 }, `reload rejected (${what}): the rules and the policy in force stay`);
    if (what === 'rules') audit?.rulesReload(inForce.rules.digests, null, false, why);
    else audit?.policyReload(inForce.policySha256, null, false, why);
    return { ok: false, what, why };
  };
  let rules: RuleSet;
  let policy: LoadedPolicy | undefined;
  try {
    rules = loadRuleSet(files.rulesDir);
  } catch (e) {
    return refuse('rules', e);
  }
  try {
    policy = files.policyFile === undefined ? undefined : loadPolicy(files.policyFile, rules.classes.names);
  } catch (e) {
    return refuse('policy', e);
  }
  const rulesChanged = !sameRules(inForce.rules.digests, rules.digests);
  if (rulesChanged) {
    log.info({ old: inForce.rules.digests, new: rules.digests }, 'rules reloaded');
    audit?.rulesReload(inForce.rules.digests, rules.digests, true);
  }
  if (policy !== undefined) {
    log.info({ file: files.policyFile, old_sha256: inForce.policySha256, new_sha256: policy.sha256 }, 'policy reloaded');
    audit?.policyReload(inForce.policySha256, policy.sha256, true);
  }
  if (!rulesChanged && policy === undefined) log.info({ rules: rules.digests }, 'reload: the rules are unchanged and no policy is in use');
  return { ok: true, rules, policy, rulesChanged };
}
