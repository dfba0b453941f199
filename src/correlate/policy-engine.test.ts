import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { buildCorrelation } from '../pipeline/correlation.js';
import { DataClasses } from '../rules/data-classes.js';
import { loadPolicy } from '../rules/policy-file.js';
import { diffPolicies } from '../rules/policy-diff.js';
import type { Finding } from '../schema/finding.js';
import { ChainwatchError } from '../util/errors.js';
import { TestWorld } from '../testing/world.js';
import { accessOf, cidrMatcher, normalisePath } from './policy-engine.js';

const shipped = join(import.meta.dirname, '../../rules/policy.yaml');
const dir = mkdtempSync(join(tmpdir(), 'cw-policy-'));

/** The shipped rules and policy; sandboxes named like the manifest's cgroups. */
function world(enforce?: (pid: number) => void): TestWorld & { found: Finding[] } {
  const found: Finding[] = [];
  const c = buildCorrelation({
    host: 'h',
    wallEpochNs: 0n,
    policy: loadPolicy(shipped),
    ...(enforce && {
      enforce: (v) => {
        enforce(v.ev.pid);
        return 'killed';
      },
    }),
    onFinding: (f) => found.push(f),
  });
  const w = new TestWorld(c.correlator) as TestWorld & { found: Finding[] };
  w.found = w.out;
  return w;
}

describe('policy: exec digests', () => {
  it('a binary rewritten after its first exec is hashed again: the new content is a violation, the old one allowed again', () => {
    const tool = join(dir, 'tool');
    writeFileSync(tool, '#!/bin/sh\necho trusted\n');
    const good = createHash('sha256').update(readFileSync(tool)).digest('hex');
    const policy = join(dir, 'digest-policy.yaml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'intents:',
        '  tool-runner:',
        '    description: runs one pinned tool',
        '    exec:',
        `      - { id: pinned, paths: [${tool}], sha256: ${good}, why: the one tool, risk: R-EXEC }`,
        'manifest:',
        '  - { cgroup: /sandboxes/tool-*, intent: tool-runner }',
      ].join('\n'),
    );
    const found: Finding[] = [];
    const c = buildCorrelation({ host: 'h', wallEpochNs: 0n, policy: loadPolicy(policy), verifyDigests: true, onFinding: (f) => found.push(f) });
    const w = new TestWorld(c.correlator);
    const t = 'sandboxes/tool-1';
    const exec = (pid: number): Finding[] => {
      w.proc(t, pid, 'sh');
      const before = w.out.length;
      w.feed({ ...w.b(t, pid), kind: 'process.exec', filename: tool, argv: [tool], argv_truncated: false, old_tid: pid, ppid: 1, exe_obj: null });
      return w.out.slice(before).filter((f) => f.rule === 'policy.exec');
    };
    expect(exec(40)).toEqual([]);
    // the same path, other content (an attacker rewrote the pinned tool)
    writeFileSync(tool, '#!/bin/sh\ncat /etc/shadow\n');
    const bad = createHash('sha256').update(readFileSync(tool)).digest('hex');
    const v = exec(41);
    expect(v).toHaveLength(1);
    expect(v[0]!.policy?.violation).toContain(bad);
    writeFileSync(tool, '#!/bin/sh\necho trusted\n');
    expect(exec(42)).toEqual([]);
  });
});

describe('policy: exec arguments', () => {
  const policyWith = (execCaps: string[]): string => {
    const f = join(dir, `args-${execCaps.length}-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, ['version: 1', 'intents:', '  tests:', '    description: runs the test suite', '    exec:', ...execCaps.map((c) => `      - ${c}`), 'manifest:', '  - { cgroup: /sandboxes/tests-*, intent: tests }'].join('\n'));
    return f;
  };
  const runner = (file: string): ((argv: string[], truncated?: boolean) => Finding[]) => {
    const found: Finding[] = [];
    const w = new TestWorld(buildCorrelation({ host: 'h', wallEpochNs: 0n, policy: loadPolicy(file), onFinding: (f) => found.push(f) }).correlator);
    let pid = 100;
    return (argv, truncated = false) => {
      pid++;
      w.proc('sandboxes/tests-1', pid, 'sh');
      const before = w.out.length;
      w.exec('sandboxes/tests-1', pid, argv, truncated);
      return w.out.slice(before).filter((f) => f.rule === 'policy.exec');
    };
  };

  it('python3 may run pytest and the workspace\'s scripts, not code given on the command line', () => {
    const exec = runner(policyWith(['{ id: tests, paths: [/usr/bin/python3], args: [[-m, pytest, ...], ["/workspace/**/*.py", ...]], why: runs the tests, risk: R-EXEC }']));
    expect(exec(['python3', '-m', 'pytest'])).toEqual([]);
    expect(exec(['python3', '-m', 'pytest', '-q', 'tests/'])).toEqual([]);
    expect(exec(['python3', '/workspace/tools/gen.py'])).toEqual([]);
    const v = exec(['python3', '-c', 'import socket; ...']);
    expect(v).toHaveLength(1);
    expect(v[0]!.policy).toMatchObject({ intent: 'tests', capability: 'tests', why: 'runs the tests', risk: 'R-EXEC' });
    expect(v[0]!.policy!.violation).toBe('ran /usr/bin/python3 with the arguments ["-c","import socket; ..."]; capability tests allows it only with [-m pytest ...] or [/workspace/**/*.py ...]');
    expect(v[0]!.process.args).toEqual(['python3', '-c', 'import socket; ...']);
    // no arguments, a script outside the workspace, pytest as a file: none of the forms
    expect(exec(['python3'])).toHaveLength(1);
    expect(exec(['python3', '/tmp/x.py'])).toHaveLength(1);
    expect(exec(['python3', 'pytest'])).toHaveLength(1);
  });

  it('a form without ... allows exactly that many arguments; a cut command line fits only a form ending in ...; another capability for the same executable without args allows any', () => {
    const exact = runner(policyWith(['{ id: version, paths: [/usr/bin/git], args: [[--version], []], why: prints the version, risk: R }']));
    expect(exact(['git', '--version'])).toEqual([]);
    expect(exact(['git'])).toEqual([]);
    expect(exact(['git', '--version', 'x'])).toHaveLength(1);
    expect(exact(['git', '--version'], true)[0]!.policy!.violation).toContain('the probe cut them');
    const open = runner(policyWith(['{ id: narrow, paths: [/usr/bin/git], args: [[status]], why: status only, risk: R }', '{ id: any, paths: [/usr/bin/git], why: anything, risk: R }']));
    expect(open(['git', 'push', '--force'])).toEqual([]);
    const more = runner(policyWith(['{ id: pytest, paths: [/usr/bin/python3], args: [[-m, pytest, ...]], why: tests, risk: R }']));
    expect(more(['python3', '-m', 'pytest', '-k', 'x'], true)).toEqual([]);
  });

  it('a bad form is refused at its place: "..." not last, a bad glob, no forms at all', () => {
    const refused = (caps: string): string => {
      try {
        loadPolicy(policyWith([caps]));
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(refused('{ id: e, paths: [/bin/sh], args: [[..., -c]], why: because, risk: R }')).toMatch(/:6:\d+: intents\.tests\.exec\.0\.args\.0\.0: "\.\.\." \(any further arguments\) may only come last/);
    expect(refused('{ id: e, paths: [/bin/sh], args: [["[x"]], why: because, risk: R }')).toMatch(/intents\.tests\.exec\.0\.args\.0\.0: not a valid glob/);
    expect(refused('{ id: e, paths: [/bin/sh], args: [], why: because, risk: R }')).toMatch(/intents\.tests\.exec\.0\.args: list at least one argument form/);
  });

  it('diff: another argument form widens the capability, dropping args widens it to any arguments, a changed form is a change', () => {
    const base = loadPolicy(policyWith(['{ id: t, paths: [/usr/bin/python3], args: [[-m, pytest, ...]], why: tests, risk: R }'])).effective;
    const more = loadPolicy(policyWith(['{ id: t, paths: [/usr/bin/python3], args: [[-m, pytest, ...], [-V]], why: tests, risk: R }'])).effective;
    const any = loadPolicy(policyWith(['{ id: t, paths: [/usr/bin/python3], why: tests, risk: R }'])).effective;
    const other = loadPolicy(policyWith(['{ id: t, paths: [/usr/bin/python3], args: [[-m, unittest, ...]], why: tests, risk: R }'])).effective;
    expect(diffPolicies(base, more).map((c) => [c.change, c.kind, c.id])).toEqual([['widened', 'exec', 't']]);
    expect(diffPolicies(more, base).map((c) => c.change)).toEqual(['narrowed']);
    expect(diffPolicies(base, any).map((c) => c.change)).toEqual(['widened']);
    expect(diffPolicies(base, other).map((c) => c.change)).toEqual(['changed']);
  });
});

describe('policy: reports per process', () => {
  it('a violation is reported once per process; a later process given the same pid (pid reuse) is reported afresh', () => {
    const w = world();
    const t = 'sandboxes/summarize-1';
    w.proc(t, 30, 'agent');
    w.open(t, 30, 3, '/etc/shadow');
    w.open(t, 30, 4, '/etc/shadow');
    expect(w.found.filter((f) => f.rule === 'policy.file')).toHaveLength(1);
    w.exit(t, 30);
    w.proc(t, 30, 'other');
    w.open(t, 30, 3, '/etc/shadow');
    const file = w.found.filter((f) => f.rule === 'policy.file');
    expect(file).toHaveLength(2);
    expect(file[1]!.process.comm).toBe('other');
  });
});

describe('policy: a file is judged by its first name too', () => {
  it('a file linked or renamed into an allowed place is still the file it was: /etc/shadow linked into the scratch directory and opened there is a violation naming both', () => {
    const w = world();
    const t = 'sandboxes/summarize-7';
    w.proc(t, 31, 'agent');
    const scratch = '/tmp/summarize-7/notes.txt';
    // an ordinary scratch file: allowed
    w.open(t, 31, 3, '/tmp/summarize-7/draft.txt');
    expect(w.found.filter((f) => f.rule === 'policy.file')).toEqual([]);
    w.feed({ ...w.b(t, 31), kind: 'file.path2', syscall: 'linkat', op: 'link', old_dirfd: -100, old_path: '/etc/shadow', new_dirfd: -100, new_path: scratch, flags: 0, ret: 0 });
    w.open(t, 31, 4, scratch);
    const v = w.found.filter((f) => f.rule === 'policy.file');
    expect(v).toHaveLength(1);
    // the file opened, and in the violation the name it was judged by
    expect(v[0]!.source.path).toBe(scratch);
    expect(v[0]!.policy?.violation).toContain(`opened ${scratch} (first named /etc/shadow) for read`);
    // a failed link names nothing
    w.feed({ ...w.b(t, 31), kind: 'file.path2', syscall: 'linkat', op: 'link', old_dirfd: -100, old_path: '/etc/gshadow', new_dirfd: -100, new_path: '/tmp/summarize-7/other.txt', flags: 0, ret: -1 });
    w.open(t, 31, 5, '/tmp/summarize-7/other.txt');
    expect(w.found.filter((f) => f.rule === 'policy.file')).toHaveLength(1);
    // a file opened by a handle (no path) that its descriptor did not name: no capability covers it
    w.feed({ ...w.b(t, 31), kind: 'file.open', syscall: 'open_by_handle_at', dirfd: 7, path: '', path_truncated: false, flags: 0, mode: 0, ret: 6, obj: '8:1:77', file_type: 'file' });
    const handle = w.found.filter((f) => f.rule === 'policy.file');
    expect(handle).toHaveLength(2);
    expect(handle[1]!.policy?.violation).toContain('opened (no path: open_by_handle_at, object 8:1:77) for read');
  });
});

describe('policy: per-intent capabilities on resolved events', () => {
  it('browse-user-data: reading the user’s files is fine; sending what was read anywhere is a flow violation, would-kill in a dry run', () => {
    const w = world();
    const t = 'sandboxes/browse-1';
    w.proc(t, 10, 'agent');
    w.open(t, 10, 3, '/home/alice/notes/plan.txt');
    w.io(t, 10, 'in', 3, 500);
    expect(w.found).toEqual([]);
    w.socket(t, 10, 4, '93.184.216.34', 443);
    expect(w.found).toEqual([]); // the web is allowed
    w.io(t, 10, 'out', 4, 500);
    const flow = w.found.filter((f) => f.rule === 'policy.flow');
    expect(flow).toHaveLength(1);
    expect(flow[0]).toMatchObject({ category: 'policy', action: 'would-kill', task: 'sandboxes/browse-1', source: { path: '/home/alice/notes/plan.txt', data_class: 'user-data' }, sink: { address: '93.184.216.34', port: 443 } });
    expect(flow[0]!.policy).toMatchObject({ intent: 'browse-user-data' });
    expect(flow[0]!.policy_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('summarize-document: sending the document to its API is allowed; anywhere else is not', () => {
    const w = world();
    const t = 'sandboxes/summarize-7';
    w.proc(t, 20, 'agent');
    w.open(t, 20, 3, '/home/bob/Documents/report.txt');
    w.io(t, 20, 'in', 3, 800);
    w.socket(t, 20, 4, '127.0.0.2', 8443);
    w.io(t, 20, 'out', 4, 800);
    expect(w.found).toEqual([]);
    w.socket(t, 20, 5, '127.0.0.3', 8443);
    w.io(t, 20, 'out', 5, 800);
    expect(w.found.map((f) => f.rule).sort()).toEqual(['policy.flow', 'policy.network', 'policy.network']);
    const net = w.found.find((f) => f.policy?.violation.startsWith('connected to'))!;
    expect(net.summary).toContain('127.0.0.3:8443');
  });

  it('default-deny on the network covers raw frames: a send on a packet socket is a violation unless a capability names the family', () => {
    const w = world();
    const t = 'sandboxes/summarize-8';
    w.proc(t, 21, 'agent');
    w.feed({ ...w.b(t, 21), kind: 'fd.socket', family: 'packet', sock_type: 3, protocol: 0, ret: 4, obj: '0:9:7100' });
    w.io(t, 21, 'out', 4, 64);
    expect(w.found.map((f) => [f.rule, f.policy?.violation])).toEqual([['policy.network', 'sent 64 bytes to a packet socket (raw frames); no network capability of the intent allows sending there']]);
    const policy = join(dir, 'packet-policy.yaml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'intents:',
        '  sniffer:',
        '    description: sends raw frames',
        '    network:',
        '      - { id: frames, ops: [send], family: packet, why: it crafts frames, risk: R-NET }',
        'manifest:',
        '  - { cgroup: /sandboxes/sniff-*, intent: sniffer }',
      ].join('\n'),
    );
    const found: Finding[] = [];
    const c = buildCorrelation({ host: 'h', wallEpochNs: 0n, policy: loadPolicy(policy), onFinding: (f) => found.push(f) });
    const w2 = new TestWorld(c.correlator);
    w2.proc('sandboxes/sniff-1', 22, 'agent');
    w2.feed({ ...w2.b('sandboxes/sniff-1', 22), kind: 'fd.socket', family: 'packet', sock_type: 3, protocol: 0, ret: 4, obj: '0:9:7101' });
    w2.io('sandboxes/sniff-1', 22, 'out', 4, 64);
    expect(found.filter((f) => f.rule === 'policy.network')).toEqual([]);
  });

  it('default-deny on socket families: a send on AF_XDP or on a family the model does not name is a violation; one on AF_ALG (kernel crypto) is not', () => {
    const w = world();
    const t = 'sandboxes/summarize-9';
    w.proc(t, 23, 'agent');
    w.feed({ ...w.b(t, 23), kind: 'fd.socket', family: 'xdp', sock_type: 3, protocol: 0, ret: 4, obj: '0:9:7200' });
    w.feed({ ...w.b(t, 23), kind: 'fd.socket', family: 'other', sock_type: 2, protocol: 0, ret: 5, obj: '0:9:7201' });
    w.feed({ ...w.b(t, 23), kind: 'fd.socket', family: 'alg', sock_type: 5, protocol: 0, ret: 6, obj: '0:9:7202' });
    w.io(t, 23, 'out', 4, 64);
    w.io(t, 23, 'out', 5, 32);
    w.io(t, 23, 'out', 6, 16);
    expect(w.found.map((f) => f.policy?.violation)).toEqual([
      'sent 64 bytes to an AF_XDP socket (raw frames); no network capability of the intent allows sending there',
      'sent 32 bytes to a socket of a family chainwatch does not name; no network capability of the intent allows sending there',
    ]);
  });

  it('default-deny covers AF_XDP rings: mapping a socket\'s memory writable is the send (frames leave from it with no write), checked whatever the data', () => {
    const w = world();
    const t = 'sandboxes/summarize-10';
    w.proc(t, 24, 'agent');
    w.feed({ ...w.b(t, 24), kind: 'fd.socket', family: 'xdp', sock_type: 3, protocol: 0, ret: 4, obj: '0:9:7300' });
    w.map(t, 24, 0x7000_0000, 4096, 4, '0:9:7300', 1); // read-only: the RX ring, nothing leaves
    w.map(t, 24, 0x7000_2000, 4096, 4, '0:9:7300'); // the TX ring
    w.map(t, 24, 0x7000_4000, 4096, 4, '0:9:7300'); // the completion ring: the same send, reported once
    expect(w.found.map((f) => [f.rule, f.policy?.violation])).toEqual([
      ['policy.network', 'mapped the memory of an AF_XDP socket (raw frames) writable, to send from it with no write(2); no network capability of the intent allows sending there'],
    ]);
  });

  it('default-deny on files: an unlisted path, and a listed one opened for more than it allows (capability, why and risk named)', () => {
    const w = world();
    const t = 'sandboxes/summarize-1';
    w.proc(t, 30, 'agent');
    w.open(t, 30, 3, '/etc/../etc/shadow');
    expect(w.found[0]).toMatchObject({ rule: 'policy.file', source: { path: '/etc/shadow' } });
    const b = w.b(t, 30);
    w.feed({ ...b, kind: 'file.open', syscall: 'openat', dirfd: -100, path: '/home/bob/Documents/report.txt', path_truncated: false, flags: 0o1101, mode: 0o644, ret: 4, obj: '8:1:77', file_type: 'file' });
    const widened = w.found[1]!;
    expect(widened.rule).toBe('policy.file');
    expect(widened.policy).toMatchObject({ capability: 'read-documents', risk: 'R-DATA-USER' });
    expect(widened.policy!.violation).toContain('for write+create');
  });

  it('exec outside the allowed executables, descriptor passing, and tasks outside the manifest', () => {
    const w = world();
    const t = 'sandboxes/browse-2';
    w.proc(t, 40, 'agent');
    w.feed({ ...w.b(t, 40), kind: 'process.exec', filename: '/usr/bin/nc', argv: ['nc'], argv_truncated: false, old_tid: 40, ppid: 1, exe_obj: null });
    expect(w.found.map((f) => f.rule)).toEqual(['policy.exec']);
    w.open(t, 40, 3, '/home/alice/x');
    w.feed({ ...w.b(t, 40), kind: 'fd.rights', dir: 'send', sock_fd: 9, index: 0, count: 1, fd: 3, obj: null });
    expect(w.found.map((f) => f.rule)).toEqual(['policy.exec', 'policy.fd-passing']);
    // a task no manifest entry names is outside the policy
    w.proc('elsewhere', 50, 'x');
    w.open('elsewhere', 50, 3, '/etc/shadow');
    expect(w.found).toHaveLength(2);
  });

  it('--enforce kills the violating process and says so', () => {
    const killed: number[] = [];
    const w = world((pid) => killed.push(pid));
    w.proc('sandboxes/browse-3', 60, 'agent');
    w.socket('sandboxes/browse-3', 60, 4, '10.1.1.1', 6667);
    expect(killed).toEqual([60]);
    expect(w.found[0]).toMatchObject({ rule: 'policy.network', action: 'killed' });
  });
});

describe('policy files: precise errors', () => {
  const write = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const err = (f: string): ChainwatchError => {
    try {
      loadPolicy(f);
    } catch (e) {
      return e as ChainwatchError;
    }
    throw new Error('expected an error');
  };
  const intent = (body: string): string => `version: 1\nintents:\n  t:\n    description: d\n${body}`;

  it('wrong type, unknown field, bad glob, bad CIDR: FILE:LINE:COL and the field', () => {
    expect(err(write('type.yaml', intent('    on_violation: maybe\n'))).message).toMatch(/type\.yaml:5:19: intents\.t\.on_violation: .*"alert"/);
    expect(err(write('field.yaml', intent('    colour: red\n'))).message).toMatch(/field\.yaml:5:\d+: intents\.t: Unrecognized key: "colour"/);
    expect(err(write('glob.yaml', intent('    files:\n      - { id: a, paths: ["/x/[y"], access: [read], why: because, risk: R }\n'))).message).toMatch(/glob\.yaml:6:26: intents\.t\.files\.0\.paths\.0: not a valid glob/);
    expect(err(write('cidr.yaml', intent('    network:\n      - { id: n, ops: [connect], cidrs: [300.1.1.1/8], why: because, risk: R }\n'))).message).toMatch(/cidr\.yaml:6:42: intents\.t\.network\.0\.cidrs\.0: not a CIDR: "300\.1\.1\.1\/8"/);
    expect(err(write('why.yaml', intent('    exec:\n      - { id: e, paths: [/bin/sh], risk: R }\n'))).message).toMatch(/intents\.t\.exec\.0\.why/);
  });

  it('a cycle in file includes, and in capability sets, is named', () => {
    write('a.yaml', 'version: 1\ninclude: [b.yaml]\n');
    write('b.yaml', 'version: 1\ninclude: [a.yaml]\n');
    const e = err(join(dir, 'a.yaml'));
    expect(e.code).toBe('POLICY_INVALID');
    expect(e.message).toMatch(/include cycle: .*a\.yaml → .*b\.yaml → .*a\.yaml/);
    const s = err(write('sets.yaml', 'version: 1\nsets:\n  x: { include: [y] }\n  y: { include: [x] }\nintents:\n  t: { description: d, include: [x] }\n'));
    expect(s.message).toMatch(/capability set include cycle: x → y → x/);
  });

  it('a flow or limit naming a class data-classes.yaml does not define is refused, naming the intent and the capability', () => {
    const classes = DataClasses.namesIn();
    expect(loadPolicy(shipped, classes).sha256).toBe(loadPolicy(shipped).sha256);
    const refused = (file: string): ChainwatchError => {
      try {
        loadPolicy(file, classes);
      } catch (e) {
        return e as ChainwatchError;
      }
      throw new Error('expected an error');
    };
    const flow = write('flow-class.yaml', intent('    flows:\n      - { id: up, classes: [secret, secrte], to: { cidrs: [10.0.0.0/8] }, why: because, risk: R }\n'));
    const e = refused(flow);
    expect(e.code).toBe('POLICY_INVALID');
    expect(e.where).toBe(flow);
    expect(e.message).toMatch(/^intent "t", flows capability "up": no data class "secrte" in .*rules\/data-classes\.yaml \(classes: secret, /);
    expect(e.fix).toContain('define "secrte" there');
    expect(refused(write('limit-class.yaml', intent('    limits:\n      no_transmit_after:\n        - { id: quiet, class: user-dat, within: 5m, why: because, risk: R }\n'))).message).toMatch(
      /^intent "t", limit no_transmit_after "quiet": no data class "user-dat"/,
    );
    // `*` is every class; a class that exists is fine
    expect(() => loadPolicy(write('star.yaml', intent('    flows:\n      - { id: any, classes: ["*"], to: { cidrs: [10.0.0.0/8] }, why: because, risk: R }\n    limits:\n      no_transmit_after:\n        - { id: q, class: secret, within: 5m, why: because, risk: R }\n')), classes)).not.toThrow();
  });

  it('check: the effective policy has a stable hash; diff names widened and added capabilities', () => {
    const a = loadPolicy(shipped);
    expect(loadPolicy(shipped).sha256).toBe(a.sha256);
    const text = readShipped().replace('ports: [80, 443]', 'ports: [80, 443, 8080]').replace('      fd_passing: deny\n\n  build:', '      fd_passing: allow\n\n  build:');
    const b = loadPolicy(write('wider.yaml', text));
    expect(b.sha256).not.toBe(a.sha256);
    const d = diffPolicies(a.effective, b.effective);
    expect(d).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ change: 'widened', intent: 'browse-user-data', kind: 'network', id: 'web' }),
        expect.objectContaining({ change: 'widened', intent: 'browse-user-data', kind: 'limits', id: 'fd_passing' }),
      ]),
    );
    expect(diffPolicies(b.effective, a.effective).map((c) => c.change)).toEqual(['narrowed', 'narrowed']);
  });
});

function readShipped(): string {
  return readFileSync(shipped, 'utf8');
}

describe('matching primitives against references', () => {
  it('glob matching agrees with a straightforward reference for *, ** and ?', () => {
    // segments that do not start with a dot (dotfiles: the explicit cases below)
    const seg = fc.stringMatching(/^[a-c][a-c.]{0,2}$/);
    const path = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
    // policy-shaped globs: segments with * and ?, at most one **, in the middle or at the end
    const gseg = fc.oneof(seg, fc.constant('*'), fc.constant('?'), seg.map((s) => `${s}*`));
    const glob = fc
      .tuple(fc.array(gseg, { minLength: 1, maxLength: 3 }), fc.nat(4), fc.boolean())
      .map(([segs, at, withStar]) => {
        const parts = [...segs];
        const i = Math.min(at, parts.length);
        // picomatch is inconsistent on a trailing /** after a wildcard segment (/*/** vs /a: no; /?/** vs /a: yes): not generated
        if (withStar && !(i === parts.length && /[*?]/.test(parts[i - 1]!))) parts.splice(i, 0, '**');
        return `/${parts.join('/')}`;
      });
    // picomatch's semantics, written out: * and ? stay within a segment; /** is any number of segments,
    // a trailing /** also matches the directory itself,
    // and a leading /** stands for at least one segment
    const reference = (g: string, p: string): boolean => {
      const parts = g.split('/');
      let re = '';
      for (let i = 1; i < parts.length; i++) {
        const part = parts[i]!;
        const last = i === parts.length - 1;
        // a leading /** before more segments stands for at least one segment (/**/a does not match /a)
        if (part === '**') re += i === 1 && !last ? '(?:/.+)' : '(?:/.*)?';
        else re += `/${part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}`;
      }
      return new RegExp(`^${re}$`).test(p);
    };
    fc.assert(
      fc.property(glob, path, (g, p) => {
        expect(picomatch.isMatch(p, g, { dot: true })).toBe(reference(g, p));
      }),
      { numRuns: 2000 },
    );
    // dotfiles match like any other name: a policy for /home/** covers /home/u/.ssh/id_rsa
    expect(picomatch.isMatch('/home/u/.ssh/id_rsa', '/home/**', { dot: true })).toBe(true);
    expect(picomatch.isMatch('/home/u/.env', '/home/*/*', { dot: true })).toBe(true);
  });

  it('CIDR matching agrees with prefix arithmetic on IPv4', () => {
    const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
    const toInt = (a: number[]): bigint => a.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
    fc.assert(
      fc.property(ip, fc.integer({ min: 0, max: 32 }), ip, (net, bits, addr) => {
        const mask = bits === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bits)) - 1n);
        const expected = (toInt(net) & mask) === (toInt(addr) & mask);
        expect(cidrMatcher([`${net.join('.')}/${bits}`])(addr.join('.'))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('path normalisation is idempotent and removes .. and . tricks', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('etc', '..', '.', '', 'shadow', 'a'), { maxLength: 8 }), (parts) => {
        const p = `/${parts.join('/')}`;
        const n = normalisePath(p);
        expect(normalisePath(n)).toBe(n);
        expect(n.split('/')).not.toContain('..');
        expect(n).toBe(posix.normalize(p).replace(/(.)\/$/, '$1'));
      }),
    );
    expect(normalisePath('/etc/../etc//./shadow')).toBe('/etc/shadow');
  });

  it('open flags map to read / write / create', () => {
    expect([...accessOf(0)]).toEqual(['read']);
    expect([...accessOf(1)]).toEqual(['write']);
    expect([...accessOf(2)].sort()).toEqual(['read', 'write']);
    expect([...accessOf(0o101)].sort()).toEqual(['create', 'write']);
    expect([...accessOf(0o1000)].sort()).toEqual(['read', 'write']); // O_RDONLY|O_TRUNC truncates
  });
});
