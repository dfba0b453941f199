import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { PolicyFile, type EffectiveIntent, type EffectivePolicy, type Intent } from '../schema/policy.js';
import { canonicalJson } from '../util/canonical-json.js';
import { ChainwatchError } from '../util/errors.js';
import { packageDir } from '../util/package-dir.js';
import type { DataClassNames } from './data-classes.js';
import { loadYamlFile } from './yaml-file.js';

const EXAMPLE = `version: 1
intents:
  summarize-document:
    description: reads one document and sends a summary to its API
    on_violation: kill
    files:
      - { id: read-input, paths: [/work/input/**], access: [read], why: the document to summarize, risk: R-DATA-1 }
    network:
      - { id: api, ops: [connect, send], cidrs: [127.0.0.2/32], ports: [443], why: the summary API, risk: R-EXFIL-1 }
manifest:
  - { cgroup: /sandboxes/summarize-*, intent: summarize-document }`;

export interface LoadedPolicy {
  effective: EffectivePolicy;
  /** SHA-256 of the effective policy's canonical JSON: the policy actually consumed. */
  sha256: string;
  /** Every file read, the named one first. */
  files: string[];
}

/** The shipped default policy (rules/policy.yaml). */
export function defaultPolicyFile(rulesDir?: string): string {
  const dir = rulesDir ?? packageDir('rules', 'policy.yaml');
  if (dir === undefined) throw new ChainwatchError('RULE_INVALID', 'the shipped rules/policy.yaml is missing', { fix: 'reinstall chainwatch or pass --policy FILE' });
  return `${dir}/policy.yaml`;
}

/**
 * Loads a policy file with its includes (files, then capability sets),
 * validates everything (FILE:LINE:COL errors from the YAML loader), and
 * returns the effective policy and its hash.
 */
export function loadPolicy(file: string, classes?: DataClassNames): LoadedPolicy {
  const files: string[] = [];
  const sets = new Map<string, { caps: NonNullable<PolicyFile['sets']>[string]; file: string }>();
  const intents = new Map<string, { intent: Intent; file: string }>();
  const manifest: NonNullable<PolicyFile['manifest']> = [];
  const visit = (f: string, stack: string[]): void => {
    const abs = resolve(f);
    if (stack.includes(abs)) throw new ChainwatchError('POLICY_INVALID', `include cycle: ${[...stack, abs].join(' → ')}`, { where: stack.at(-1) ?? abs, fix: 'remove one of the includes' });
    if (files.includes(abs)) return;
    files.push(abs);
    const p = loadYamlFile(abs, PolicyFile, EXAMPLE);
    for (const inc of p.include ?? []) visit(resolve(dirname(abs), inc), [...stack, abs]);
    for (const [name, caps] of Object.entries(p.sets ?? {})) {
      if (sets.has(name)) throw new ChainwatchError('POLICY_INVALID', `capability set "${name}" is defined twice (also in ${sets.get(name)!.file})`, { where: abs, fix: 'rename one' });
      sets.set(name, { caps, file: abs });
    }
    for (const [name, intent] of Object.entries(p.intents ?? {})) {
      if (intents.has(name)) throw new ChainwatchError('POLICY_INVALID', `intent "${name}" is defined twice (also in ${intents.get(name)!.file})`, { where: abs, fix: 'rename one' });
      intents.set(name, { intent, file: abs });
    }
    manifest.push(...(p.manifest ?? []));
  };
  visit(file, []);

  const effective: EffectivePolicy = { version: 1, intents: {}, manifest };
  for (const [name, { intent, file: f }] of [...intents].sort((a, b) => a[0].localeCompare(b[0]))) {
    const e: EffectiveIntent = {
      description: intent.description,
      on_violation: intent.on_violation ?? 'alert',
      severity: intent.severity ?? 'high',
      files: [...(intent.files ?? [])],
      exec: [...(intent.exec ?? [])],
      network: [...(intent.network ?? [])],
      flows: [...(intent.flows ?? [])],
      limits: {
        no_transmit_after: intent.limits?.no_transmit_after ?? [],
        ...(intent.limits?.bytes_out_per_minute && { bytes_out_per_minute: intent.limits.bytes_out_per_minute }),
        fd_passing: intent.limits?.fd_passing ?? 'deny',
      },
    };
    // capability sets, recursively, each once
    const seen = new Set<string>();
    const expand = (names: string[], path: string[]): void => {
      for (const n of names) {
        if (path.includes(n)) throw new ChainwatchError('POLICY_INVALID', `capability set include cycle: ${[...path, n].join(' → ')}`, { where: f, fix: 'remove one of the includes' });
        const s = sets.get(n);
        if (s === undefined) throw new ChainwatchError('POLICY_INVALID', `intent "${name}" includes unknown capability set "${n}"`, { where: f, fix: `define it under sets: (known: ${[...sets.keys()].join(', ') || 'none'})` });
        if (seen.has(n)) continue;
        seen.add(n);
        expand(s.caps.include ?? [], [...path, n]);
        e.files.push(...(s.caps.files ?? []));
        e.exec.push(...(s.caps.exec ?? []));
        e.network.push(...(s.caps.network ?? []));
        e.flows.push(...(s.caps.flows ?? []));
      }
    };
    expand(intent.include ?? [], []);
    const ids = new Map<string, string>();
    for (const [kind, caps] of [['files', e.files], ['exec', e.exec], ['network', e.network], ['flows', e.flows]] as const) {
      for (const c of caps) {
        if (ids.has(c.id)) throw new ChainwatchError('POLICY_INVALID', `intent "${name}": capability id "${c.id}" appears twice (${ids.get(c.id)} and ${kind})`, { where: f, fix: 'give every capability its own id: findings and diffs name capabilities by id' });
        ids.set(c.id, kind);
      }
    }
    for (const caps of [e.files, e.exec, e.network, e.flows] as { id: string }[][]) caps.sort((a, b) => a.id.localeCompare(b.id));
    if (classes !== undefined) checkClasses(name, e, f, classes);
    effective.intents[name] = e;
  }
  for (const m of manifest) {
    if (!(m.intent in effective.intents)) throw new ChainwatchError('POLICY_INVALID', `the manifest maps ${m.cgroup ?? m.task} to unknown intent "${m.intent}"`, { where: file, fix: `define intents.${m.intent} (known: ${Object.keys(effective.intents).join(', ') || 'none'})` });
  }
  return { effective, sha256: policyHash(effective), files };
}

/** A flow or limit about a class data-classes.yaml does not define would never apply: refused, naming the capability. */
function checkClasses(intent: string, e: EffectiveIntent, file: string, classes: DataClassNames): void {
  const known = new Set(classes.names);
  const named = [...e.flows.flatMap((c) => c.classes.filter((x) => x !== '*').map((x) => ({ x, at: `flows capability "${c.id}"` }))), ...e.limits.no_transmit_after.map((l) => ({ x: l.class, at: `limit no_transmit_after "${l.id}"` }))];
  for (const { x, at } of named) {
    if (known.has(x)) continue;
    throw new ChainwatchError('POLICY_INVALID', `intent "${intent}", ${at}: no data class "${x}" in ${classes.file} (classes: ${classes.names.join(', ')})`, {
      where: file,
      fix: `name a class ${classes.file} defines, or define "${x}" there: a rule about a class that does not exist never applies`,
    });
  }
}

/** SHA-256 over canonical JSON (keys sorted at every level). */
export function policyHash(p: EffectivePolicy): string {
  return createHash('sha256').update(canonicalJson(p)).digest('hex');
}

