import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Finding } from '../../schema/finding.js';
import { REPLAY_LIBRARY } from '../../testing/replay-library.js';

/** The built CLI (npm test builds first). */
const cli = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const shipped = join(import.meta.dirname, '../../../rules');
const replays = join(import.meta.dirname, '../../../replays');
const rules = (...args: string[]) => spawnSync(process.execPath, [cli, 'rules', ...args], { encoding: 'utf8' });

/** A copy of the shipped rules, changed by `edit` (chains.yaml, data-classes.yaml). */
function rulesCopy(edit: (chains: string, classes: string) => [string, string]): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'cw-rules-')), 'rules');
  cpSync(shipped, dir, { recursive: true });
  const [chains, classes] = edit(readFileSync(join(dir, 'chains.yaml'), 'utf8'), readFileSync(join(dir, 'data-classes.yaml'), 'utf8'));
  writeFileSync(join(dir, 'chains.yaml'), chains);
  writeFileSync(join(dir, 'data-classes.yaml'), classes);
  return dir;
}

const EXFIL_HEAD = '  - id: exfil.read-then-transmit\n    category: exfiltration\n    severity: high';

describe('chainwatch rules', () => {
  it('check: lists the classes and rules with their SHA-256; a rule naming a field no input has is refused with its place (exit 5)', () => {
    const ok = rules('check');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/rules\/chains\.yaml {2}sha256 [0-9a-f]{64}/);
    for (const id of ['exfil.read-then-transmit', 'exfil.staged', 'shell.stdio-over-socket', 'shell.relayed-from-socket', 'fd.passed-to-unwatched']) expect(ok.stdout).toContain(id);
    expect(ok.stdout).toContain('ok: 6 chain rules, 3 data classes');
    const json = JSON.parse(rules('check', '--json').stdout) as { chain_rules: { rules: unknown[] }; data_classes: { classes: Record<string, unknown> } };
    expect(json.chain_rules.rules).toHaveLength(6);
    expect(Object.keys(json.data_classes.classes)).toContain('secret');

    const typo = rulesCopy((c, d) => [c.replace('res.ret.type: socket, res.ret.family: [inet, inet6] }', 'res.ret.tpye: socket, res.ret.family: [inet, inet6] }'), d]);
    const bad = rules('check', '--rules', typo);
    expect(bad.status).toBe(5);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/rules\/chains\.yaml:\d+:\d+: rules\.2\.sequence\.steps\.0\.match\.res\.ret\.tpye: kind fd\.dup has no field res\.ret\.tpye; did you mean res\.ret\.type\?/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('fields: every kind with its fields, types and values; an unknown kind is a usage error', () => {
    const r = rules('fields', 'io', 'flow.transmit');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^io \(event\)$/m);
    expect(r.stdout).toMatch(/^flow\.transmit \(flow fact\)$/m);
    expect(r.stdout).toMatch(/^ {2}res\.fd\.type +file \| dir \| pipe \| socket \| memfd \| device \| anon \| shm \| unknown$/m);
    expect(r.stdout).toMatch(/^ {2}latency_ns +number$/m);
    expect(r.stdout).not.toContain('process.exec');
    const all = JSON.parse(rules('fields', '--json').stdout) as Record<string, Record<string, { types: string[] }>>;
    expect(all['process.exec']!['argv.#']!.types).toEqual(['string']);
    expect(all['fd.dup']!['res.ret.channel']!.types).toEqual(['string']);
    const bad = rules('fields', 'flow.transmitt');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('no input has kind flow.transmitt');
  });

  it('test: the shipped rules yield exactly the findings of the replay library (exit 0)', () => {
    const r = rules('test');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pass +curl-put-shadow +1 expected, 1 found$/m);
    expect(r.stdout).toMatch(/^pass +benign-download +0 expected, 0 found$/m);
    expect(r.stdout).toMatch(new RegExp(`^${REPLAY_LIBRARY.length} case\\(s\\): ${REPLAY_LIBRARY.length} passed, 0 failed \\(rules: .*rules/chains\\.yaml; policy: none\\)$`, 'm'));
  });

  it('test: a changed verdict, a new finding on a benign trace and a lost detection each fail their case (exit 1), named', () => {
    const changed = rulesCopy((c, d) => [
      `${c.replace(EXFIL_HEAD, EXFIL_HEAD.replace('high', 'critical'))}\n  - id: exec.curl\n    category: policy\n    severity: low\n    why: curl ran\n    sequence:\n      by: process\n      steps:\n        - match: { kind: process.exec, filename: { glob: "**/curl" } }\n`,
      d,
    ]);
    expect(readFileSync(join(changed, 'chains.yaml'), 'utf8')).toContain('severity: critical\n    why: >-\n      data of a sensitive class');
    const r = rules('test', '--rules', changed);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL +benign-download +0 expected, 1 found\n +\+ exec\.curl: .*\/usr\/bin\/curl {2}\[new\]$/m);
    expect(r.stdout).toMatch(/^FAIL +sendfile-shadow +1 expected, 1 found\n +~ exfil\.read-then-transmit: python3 \(pid \d+, task sendfile-shadow\) \/etc\/shadow → 127\.0\.0\.2:\d+: severity "high" → "critical"$/m);
    // failing: the sixteen read-then-transmit cases (severity) and the four other runs of curl (new rule); the shells and look-alikes without curl pass
    expect(r.stdout).toMatch(/^28 case\(s\): 8 passed, 20 failed/m);
    for (const c of ['fd-passed-out', 'ia32-shadow', 'revshell-bash', 'revshell-nc-e', 'revshell-socat', 'benign-secret-not-sent', 'benign-ssh-keygen', 'benign-shell-sends-file']) {
      expect(r.stdout).toMatch(new RegExp(`^pass +${c} `, 'm'));
    }

    // /etc/shadow no longer a secret: the detections are lost
    const lost = rulesCopy((c, d) => [c, d.replace('      - /etc/shadow\n', '')]);
    const j = rules('test', '--rules', lost, '--json');
    expect(j.status).toBe(1);
    const byCase = new Map(
      j.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { case: string; status: string; missing: { rule: string; headline: string }[]; unexpected: unknown[] })
        .map((x) => [x.case, x]),
    );
    expect(byCase.size).toBe(REPLAY_LIBRARY.length);
    expect(byCase.get('benign-download')!.status).toBe('pass');
    expect(byCase.get('exec-sender')!.status).toBe('pass'); // an ssh key, still secret
    expect(byCase.get('staged-cp-curl')!.missing.map((m) => m.rule)).toEqual(['exfil.staged']);
    for (const c of ['curl-put-shadow', 'pipeline-gzip-nc', 'scm-rights-send', 'sendfile-shadow', 'splice-shadow', 'udp-leak-shadow', 'fork-inherit-fd']) {
      expect(byCase.get(c)!.status).toBe('fail');
      expect(byCase.get(c)!.missing.map((m) => m.rule)).toEqual(['exfil.read-then-transmit']);
    }
    expect(byCase.get('curl-put-shadow')!.missing[0]!.headline).toMatch(/^exfil\.read-then-transmit: curl \(pid \d+, task curl-put-shadow\) \/etc\/shadow → 127\.0\.0\.2:\d+$/);
  });

  it('test --accept: a case without expectations is broken (exit 5) until accepted; accepted findings are written whole and then pass', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-cases-'));
    copyFileSync(join(replays, 'curl-put-shadow.trace.jsonl.gz'), join(dir, 'put.trace.jsonl.gz'));
    const broken = rules('test', dir);
    expect(broken.status).toBe(5);
    expect(broken.stdout).toMatch(/^ERROR +put +no expectations: .*put\.findings\.jsonl does not exist \(fix: run with --accept/m);
    expect(existsSync(join(dir, 'put.findings.jsonl'))).toBe(false);

    const acc = rules('test', dir, '--accept');
    expect(acc.status).toBe(0);
    expect(acc.stdout).toMatch(/^accepted +put +0 expected, 1 found\n +\+ exfil\.read-then-transmit: curl .*\[new\]\n +wrote 1 finding\(s\) to .*put\.findings\.jsonl: review the change/m);
    const written = readFileSync(join(dir, 'put.findings.jsonl'), 'utf8').trim().split('\n').map((l) => Finding.parse(JSON.parse(l)));
    const live = readFileSync(join(replays, 'curl-put-shadow.findings.jsonl'), 'utf8').trim().split('\n').map((l) => Finding.parse(JSON.parse(l)));
    expect(written).toEqual(live);
    expect(rules('test', join(dir, 'put.trace.jsonl.gz')).status).toBe(0);

    // a broken expectations file names its line; other cases still run
    mkdirSync(join(dir, 'more'));
    copyFileSync(join(replays, 'benign-download.trace.jsonl.gz'), join(dir, 'more', 'dl.trace.jsonl.gz'));
    writeFileSync(join(dir, 'more', 'dl.findings.jsonl'), '{"id":"nope"}\n');
    const bad = rules('test', dir, join(dir, 'more'));
    expect(bad.status).toBe(5);
    expect(bad.stdout).toMatch(/^pass +put /m);
    expect(bad.stdout).toMatch(/^ERROR +dl +.*dl\.findings\.jsonl:1: not a finding: /m);
    expect(bad.stdout).toMatch(/2 case\(s\): 1 passed, 0 failed, 1 broken/);

    expect(rules('test', join(dir, 'nothing-here')).status).toBe(2);
  }, 30_000);
});
