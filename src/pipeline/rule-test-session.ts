import { existsSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { diffFindings, finalById, passed, type FindingDiff } from '../rules/finding-diff.js';
import type { LoadedPolicy } from '../rules/policy-file.js';
import { loadRuleSet, type RuleSet } from '../rules/rule-set.js';
import type { Finding } from '../schema/finding.js';
import { readFindingsFile } from '../source/findings-file.js';
import { importFormatOf } from '../source/sysdig-source.js';
import { ChainwatchError } from '../util/errors.js';
import { packageDir } from '../util/package-dir.js';
import { runReplay } from './replay-session.js';

/**
 * `chainwatch rules test`: detections as regression tests. A case is a
 * recorded trace and, beside it, the findings it must yield
 * (`NAME.findings.jsonl`, as `watch` printed them live or as accepted after
 * review). Each trace is replayed through the rules under test and its
 * findings compared with the expected ones (rules/finding-diff.ts): a
 * detection lost, a new one (a new detection or a false positive) and a
 * changed verdict each fail the case.
 */

export interface RuleCase {
  name: string;
  trace: string;
  /** NAME.findings.jsonl beside the trace. */
  expectations: string;
}

export interface RuleCaseResult extends RuleCase {
  /** `accepted`: the findings differed (or had no file) and were written as the new expectations. */
  status: 'pass' | 'fail' | 'accepted' | 'error';
  /** Distinct findings (the last state of each id) expected and found. */
  expected: number;
  got: number;
  diff?: FindingDiff;
  error?: string;
  /** The trace was cut off (a crash, a full disk): replayed up to this line. */
  cutAfterLine?: number;
}

export interface RuleTestOptions {
  /** Trace files or folders of them; none: the shipped replays/. */
  cases: string[];
  rulesDir?: string | undefined;
  policy?: LoadedPolicy | undefined;
  /** Write what the rules find now as the expectations of every case that differs or has none. */
  accept?: boolean;
  onResult?: (r: RuleCaseResult) => void;
}

const TRACE = /\.trace\.jsonl(\.gz|\.zst)?$/;

/** NAME of NAME.trace.jsonl.gz, NAME.scap, NAME.zip … */
function caseName(file: string): string {
  const b = basename(file);
  return TRACE.test(b) ? b.replace(TRACE, '') : b.replace(/\.(jsonl(\.gz|\.zst)?|scap(\.gz)?|sc|zip)$/i, '');
}

/**
 * The cases the paths name: a file is one case; a folder holds one per
 * recorded trace (`*.trace.jsonl`, `.gz`, `.zst`) and per imported recording
 * (`.scap`, `.sc`, `.zip`) that has a `NAME.findings.jsonl` beside it.
 */
export function findCases(paths: string[]): RuleCase[] {
  const roots = paths.length > 0 ? paths : [shippedReplays()];
  const out: RuleCase[] = [];
  for (const p of roots) {
    if (!existsSync(p)) throw new ChainwatchError('USAGE', `no such file or folder: ${p}`, { where: p, fix: 'name recorded traces (NAME.trace.jsonl.gz with NAME.findings.jsonl beside it) or folders of them' });
    const files = statSync(p).isDirectory()
      ? readdirSync(p)
          .sort()
          .map((f) => join(p, f))
          .filter((f) => TRACE.test(f) || (importFormatOf(f) !== undefined && existsSync(join(dirname(f), `${caseName(f)}.findings.jsonl`))))
      : [p];
    for (const trace of files) {
      const name = caseName(trace);
      out.push({ name, trace, expectations: join(dirname(trace), `${name}.findings.jsonl`) });
    }
  }
  if (out.length === 0) throw new ChainwatchError('USAGE', `no cases in ${roots.join(', ')}`, { fix: 'a case is a trace recorded by watch --record (NAME.trace.jsonl.gz) with the findings it must yield beside it (NAME.findings.jsonl)' });
  return out;
}

function shippedReplays(): string {
  const dir = packageDir('replays', 'README.md');
  if (dir === undefined) throw new ChainwatchError('USAGE', 'no cases given and the shipped replays/ folder is not installed', { fix: 'name traces or folders of them: chainwatch rules test DIR…' });
  return dir;
}

export async function runRuleTests(o: RuleTestOptions): Promise<RuleCaseResult[]> {
  const cases = findCases(o.cases);
  // rules that do not load fail the whole run (exit 5), before any case; read once for all of them
  const rules = loadRuleSet(o.rulesDir);
  const results: RuleCaseResult[] = [];
  for (const c of cases) {
    const r = await runCase(c, o, rules);
    results.push(r);
    o.onResult?.(r);
  }
  return results;
}

async function runCase(c: RuleCase, o: RuleTestOptions, rules: RuleSet): Promise<RuleCaseResult> {
  const base = { ...c, expected: 0, got: 0 };
  const describe = (e: unknown): string => (e instanceof ChainwatchError ? e.describe() : (e as Error).message);
  let expected: Finding[] | undefined;
  try {
    if (existsSync(c.expectations)) expected = readFindingsFile(c.expectations);
    else if (!o.accept) return { ...base, status: 'error', error: `no expectations: ${c.expectations} does not exist (fix: run with --accept to write what the rules find now, then review it; an empty file says nothing may fire)` };
  } catch (e) {
    return { ...base, status: 'error', error: describe(e) };
  }
  const got: Finding[] = [];
  let cutAfterLine: number | undefined;
  try {
    const [s] = await runReplay({ traces: [c.trace], rules, ...(o.policy !== undefined && { policy: o.policy }), onFinding: (f) => got.push(f) });
    if (s?.cut) cutAfterLine = s.cut.lastWholeLine;
  } catch (e) {
    return { ...base, status: 'error', error: describe(e) };
  }
  const diff = diffFindings(expected ?? [], got);
  const r: RuleCaseResult = { ...base, expected: finalById(expected ?? []).size, got: finalById(got).size, diff, status: expected !== undefined && passed(diff) ? 'pass' : 'fail', ...(cutAfterLine !== undefined && { cutAfterLine }) };
  if (r.status === 'fail' && o.accept) {
    const tmp = `${c.expectations}.tmp-${process.pid}`;
    writeFileSync(tmp, got.map((f) => `${JSON.stringify(f)}\n`).join(''));
    renameSync(tmp, c.expectations);
    r.status = 'accepted';
  }
  return r;
}
