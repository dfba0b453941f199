import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../rules/policy-file.js';
import { loadRuleSet } from '../rules/rule-set.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { LiveHarness, tcpSink } from '../testing/live-harness.js';

/**
 * The shipped policy's intents on real programs under the real probes, with
 * --enforce (exec and IPv4 connect denies in the kernel, the rest from user
 * space): the manifest maps this suite's child cgroups to intents
 * (browse-* → browse-user-data, summarize-* → summarize-document) and the
 * summarizer API is the test listener on 127.0.0.2. Debian's /usr/bin/python3:
 * the shipped runtime set does not cover a pyenv shim in /root.
 */
let h: LiveHarness;
let sink: Awaited<ReturnType<typeof tcpSink>>;
let home: string;
let policyFile: string;
let shippedText: string;
let reload: () => void;
let rulesDir: string;
let header: TraceHeader | undefined;
const DOC = 'quarterly numbers, confidential draft\n'.repeat(30);

beforeAll(async () => {
  sink = await tcpSink();
  home = `/home/cwtest-${process.pid}`;
  mkdirSync(join(home, 'Documents'), { recursive: true });
  writeFileSync(join(home, 'notes.txt'), DOC);
  writeFileSync(join(home, 'Documents', 'report.txt'), DOC);
  const dir = mkdtempSync(join(tmpdir(), 'cw-policy-live-'));
  const shipped = readFileSync(join(import.meta.dirname, '../../rules/policy.yaml'), 'utf8');
  expect(shipped).toContain('ports: [8443]');
  const text = shipped
    .replaceAll('ports: [8443]', `ports: [${sink.port}]`)
    // PREFIX* patterns: the kernel maps sandboxes made after start by prefix
    .replace(
      /manifest:[\s\S]*$/,
      [
        // an intent whose one interpreter may only format JSON (exec arguments, checked in user space)
        '  run-json-tool:',
        '    description: formats JSON with python3 -m json.tool, nothing else',
        '    exec:',
        '      - { id: shell, paths: [/bin/bash, /usr/bin/bash], why: the harness runs a shell, risk: R-EXEC-SHELL }',
        '      - { id: json-tool, paths: [/usr/bin/python3, /usr/bin/python3.*], args: [[-m, json.tool, "..."]], why: formats JSON, risk: R-EXEC-INTERP }',
        '',
        'manifest:',
        `  - { cgroup: "/chainwatch-test-policy-${process.pid}/browse-*", intent: browse-user-data }`,
        `  - { cgroup: "/chainwatch-test-policy-${process.pid}/summarize-*", intent: summarize-document }`,
        `  - { cgroup: "/chainwatch-test-policy-${process.pid}/args-*", intent: run-json-tool }`,
        '',
      ].join('\n'),
    );
  policyFile = join(dir, 'policy.yaml');
  shippedText = text;
  writeFileSync(policyFile, text);
  rulesDir = join(dir, 'rules');
  cpSync(join(import.meta.dirname, '../../rules'), rulesDir, { recursive: true });
  h = new LiveHarness('policy', { policy: loadPolicy(policyFile), policyFile, rulesDir, onReloadRequest: (r) => (reload = r), onHeader: (hd) => (header = hd), enforce: true });
  await h.start();
}, 180_000);

afterAll(async () => {
  const summary = await h?.close();
  await sink?.close();
  h?.cleanup();
  rmSync(home, { recursive: true, force: true });
  expect(summary?.lostEvents).toBe(0);
  expect(summary?.lateEvents, JSON.stringify(summary?.lateSamples)).toBe(0);
}, 120_000);

// python opens its working directory at start: run where the intent may read
const reader = (file: string, pauseS: number): string => `cd ${dirname(file)} && /usr/bin/python3 -c '
import socket, time
data = open("${file}").read()
s = socket.create_connection(("127.0.0.2", PORT))
time.sleep(${pauseS})
s.sendall(data.encode()); s.close()
'`;

/** A summarizer that reads a file outside its capabilities, then works on for a second. */
let outside = '';
beforeAll(() => {
  outside = `cd ${home}/Documents && /usr/bin/python3 -c 'import time; open("${join(home, 'notes.txt')}").read(); time.sleep(1)'`;
});
describe('live: capability policy per task intent, enforced', () => {
  it('browse-user-data reads a user file and connects out: killed in the kernel at connect, the listener gets none of the file', async () => {
    const before = sink.received().length;
    // no pause between connect and send: only an in-kernel kill at connect stops the bytes
    const r = await h.run('browse-1', reader(join(home, 'notes.txt'), 0).replace('PORT', String(sink.port)));
    const said = JSON.stringify(r.findings.map((f) => f.policy?.violation ?? f.summary));
    expect(r.code === 137 || r.code === null, `exit ${r.code}: ${r.stderr}`).toBe(true);
    expect(r.events.some((e) => e.kind === 'enforce.kill' && e.what === 'connect'), said).toBe(true);
    expect(sink.received().subarray(before).toString()).not.toContain('quarterly numbers');
    const net = r.findings.find((f) => f.rule === 'policy.network');
    expect(net).toMatchObject({ category: 'policy', action: 'killed', sink: { address: '127.0.0.2', port: sink.port } });
    expect(net!.policy).toMatchObject({ intent: 'browse-user-data' });
    expect(net!.summary).toContain('killed in the kernel');
    expect(net!.policy_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a forbidden exec is stopped in the kernel: the program never runs', async () => {
    const made = join(home, 'made-by-touch');
    const r = await h.run('browse-2', `cd ${home} && /usr/bin/touch ${made}`);
    expect(r.code === 137 || r.code === null, `exit ${r.code}: ${r.stderr}`).toBe(true);
    expect(existsSync(made)).toBe(false);
    const f = r.findings.find((x) => x.rule === 'policy.exec');
    expect(f).toMatchObject({ action: 'killed', source: { path: '/usr/bin/touch' }, policy: { intent: 'browse-user-data' } });
    expect(f!.summary).toContain('killed in the kernel before it ran');
  });

  it('an exec capability limited to argument forms: python3 -m json.tool runs, python3 -c is a policy.exec finding naming its arguments', async () => {
    const r = await h.run('args-1', `echo '{"a": 1}' | /usr/bin/python3 -m json.tool > /dev/null && /usr/bin/python3 -c 'print(1)' > /dev/null`);
    expect(r.code, r.stderr).toBe(0);
    const execs = r.findings.filter((f) => f.rule === 'policy.exec');
    expect(execs.map((f) => f.policy?.violation)).toHaveLength(1);
    expect(execs[0]).toMatchObject({ action: 'alert', process: { args: ['/usr/bin/python3', '-c', 'print(1)'] }, policy: { intent: 'run-json-tool', capability: 'json-tool', risk: 'R-EXEC-INTERP' } });
    expect(execs[0]!.policy!.violation).toMatch(/^ran \/usr\/bin\/python3(\.\d+)? with the arguments \["-c","print\(1\)"\]; capability json-tool allows it only with \[-m json\.tool \.\.\.\]$/);
  });

  it('summarize-document sends its document to its API: allowed, no finding, the listener gets it', async () => {
    const before = sink.received().length;
    const r = await h.run('summarize-1', reader(join(home, 'Documents', 'report.txt'), 0).replace('PORT', String(sink.port)));
    expect(r.code, `${r.stderr} ${JSON.stringify(r.findings.map((f) => f.policy?.violation ?? f.summary))}`).toBe(0);
    expect(sink.received().subarray(before).toString()).toContain('quarterly numbers');
    expect(r.findings.map((f) => `${f.rule}: ${f.policy?.violation ?? f.summary}`)).toEqual([]);
  });

  it('summarize-document reading a file outside its capabilities: a policy.file finding naming the path, and killed', async () => {
    const r = await h.run('summarize-2', outside);
    expect(r.code === 137 || r.code === null).toBe(true);
    const f = r.findings.find((x) => x.rule === 'policy.file');
    expect(f).toMatchObject({ action: 'killed', source: { path: join(home, 'notes.txt') } });
  });

  it('reload (SIGHUP): a broken policy is rejected with an integrity finding and the old one stays; a valid one takes over', async () => {
    const old = loadPolicy(policyFile).sha256;
    writeFileSync(policyFile, 'version: 2\n');
    reload();
    const rejected = h.findings.find((f) => f.rule === 'policy.reload-rejected');
    expect(rejected).toMatchObject({ category: 'integrity', policy_hash: old });
    expect(rejected!.summary).toContain('version');
    const still = await h.run('summarize-3', outside);
    expect(still.findings.find((x) => x.rule === 'policy.file')).toMatchObject({ action: 'killed', policy_hash: old });
    // the new policy lets the summarizer read notes.txt too
    const wider = shippedText.replace('paths: [/home/*/Documents/**]', 'paths: [/home/*/Documents/**, /home/*/notes.txt]');
    writeFileSync(policyFile, wider);
    reload();
    const now = loadPolicy(policyFile).sha256;
    expect(now).not.toBe(old);
    const ok = await h.run('summarize-4', outside);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.findings).toEqual([]);
  });

  it('reload (SIGHUP) also reads the rules: a new rule fires on the next run; broken rules are refused with an integrity finding and the rules in force stay', async () => {
    // the run's header names the rules it started with
    expect(header?.rules?.map((d) => d.sha256)).toEqual(loadRuleSet(rulesDir).digests.map((d) => d.sha256));
    const chains = join(rulesDir, 'chains.yaml');
    const text = readFileSync(chains, 'utf8');
    const report = reader(join(home, 'Documents', 'report.txt'), 0).replace('PORT', String(sink.port));
    const before = await h.run('summarize-5', report);
    expect(before.code, before.stderr).toBe(0);
    expect(before.findings.map((f) => f.rule)).toEqual([]);
    writeFileSync(chains, `${text}\n  - id: test.report-opened\n    category: policy\n    severity: low\n    why: the report was opened\n    sequence:\n      by: process\n      steps:\n        - match: { kind: file.open, abs.path: { glob: "**/Documents/report.txt" } }\n`);
    reload();
    const after = await h.run('summarize-6', report);
    expect(after.code, after.stderr).toBe(0);
    expect(after.findings.map((f) => f.rule)).toEqual(['test.report-opened']);
    writeFileSync(chains, text.replace('kind: flow.transmit, data_class', 'kind: flow.transmitt, data_class'));
    reload();
    const rejected = h.findings.find((f) => f.rule === 'rules.reload-rejected');
    expect(rejected).toMatchObject({ category: 'integrity' });
    expect(rejected!.summary).toMatch(/chains\.yaml:\d+:\d+: .*no input has kind "flow\.transmitt"/);
    const still = await h.run('summarize-7', report);
    expect(still.findings.map((f) => f.rule)).toEqual(['test.report-opened']);
    writeFileSync(chains, text);
    reload();
  });
});
