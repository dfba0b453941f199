import { InvalidArgumentError } from 'commander';
import { defaultPolicyFile, loadPolicy, type LoadedPolicy } from '../rules/policy-file.js';

/** Commander argument parsers shared by the commands. */
export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** `--policy FILE` / `--no-policy` (commander sets policy=false) / default: the installed rules/policy.yaml. */
export function policyOptions(opts: Record<string, unknown>): { policy?: LoadedPolicy } {
  if (opts.policy === false) return {};
  const file = typeof opts.policy === 'string' ? opts.policy : defaultPolicyFile(typeof opts.rules === 'string' ? opts.rules : undefined);
  return { policy: loadPolicy(file) };
}
