import { describe, expect, it } from 'vitest';
import { chainRulesFile, loadChainRules, parseChainRules } from '../rules/chain-rules.js';
import { ChainwatchError } from '../util/errors.js';
import { SequenceMatcher, type RuleInput } from './sequence-matcher.js';

const shells = loadChainRules(chainRulesFile()).rules;
const proc = (exe: string) => ({ task: 't', comm: exe.split('/').pop()!, ppid: 1, exe });
const dupSock = (pid: number, ts: number, ret: number, exe = '/usr/bin/ncat'): RuleInput =>
  ({ kind: 'fd.dup', ts, pid, proc: proc(exe), ret, res: { ret: { id: '0:9:1', type: 'socket', channel: 's', family: 'inet', peer: { addr: '127.0.0.2', port: 4444 } } } }) as RuleInput;
const exec = (pid: number, ts: number, filename: string): RuleInput => ({ kind: 'process.exec', ts, pid, proc: proc(filename), filename }) as RuleInput;

describe('chain rules: sequence matcher', () => {
  it('by: tree joins steps of different processes of one process tree, not of another tree', () => {
    const rules = parseChainRules(
      'version: 1\nrules:\n  - id: t.download-then-shell\n    category: reverse-shell\n    severity: high\n    why: a tree downloads, then one of its processes runs a shell\n    sequence:\n      by: tree\n      steps:\n        - match: { kind: process.exec, filename: /usr/bin/curl }\n        - match: { kind: process.exec, filename: /bin/sh }\n',
      'tree.yaml',
    ).rules;
    const m = new SequenceMatcher(rules);
    const ex = (pid: number, tree: number, ts: number, filename: string): RuleInput => ({ kind: 'process.exec', ts, pid, proc: { task: 't', tree }, filename }) as RuleInput;
    expect(m.observe(ex(20, 20, 1, '/usr/bin/curl'))).toEqual([]);
    expect(m.observe(ex(31, 30, 2, '/bin/sh'))).toEqual([]); // another tree
    expect(m.observe(ex(21, 20, 3, '/bin/sh')).map((x) => x.rule.id)).toEqual(['t.download-then-shell']); // a child in the same tree
  });

  it('shell.stdio-over-socket: socket dup2 onto stdio, then exec of a shell, by the same process', () => {
    const m = new SequenceMatcher(shells);
    expect(m.observe(dupSock(7, 1, 0))).toEqual([]);
    const hit = m.observe(exec(7, 2, '/bin/sh'));
    expect(hit.map((x) => x.rule.id)).toEqual(['shell.stdio-over-socket']);
    expect(hit[0]!.inputs).toHaveLength(2);
  });

  it('… or a shell putting the socket on another stdio fd (bash -i >& /dev/tcp/…)', () => {
    const m = new SequenceMatcher(shells);
    expect(m.observe(dupSock(8, 1, 1, '/usr/bin/bash'))).toEqual([]);
    expect(m.observe(dupSock(8, 2, 2, '/usr/bin/bash')).map((x) => x.rule.id)).toEqual(['shell.stdio-over-socket']);
  });

  it('does not join different processes, non-shells, or steps further apart than maxspan', () => {
    const m = new SequenceMatcher(shells);
    m.observe(dupSock(9, 1, 0));
    expect(m.observe(exec(10, 2, '/bin/sh'))).toEqual([]); // other process
    expect(m.observe(exec(9, 3, '/usr/bin/cat'))).toEqual([]); // not a shell
    m.observe(dupSock(11, 0, 1));
    expect(m.observe(exec(11, 31e9, '/bin/bash'))).toEqual([]); // 31 s later: beyond maxspan 30s
  });

  it('replaceRules (a reload): an unchanged rule keeps its half-seen sequences, a changed one starts over, a removed one is gone, a new one matches from then on', () => {
    const m = new SequenceMatcher(shells);
    m.observe(dupSock(7, 1, 0)); // step 1 of shell.stdio-over-socket for pid 7
    const extra = parseChainRules(
      'version: 1\nrules:\n  - id: t.cat\n    category: exfiltration\n    severity: low\n    why: w\n    sequence:\n      by: process\n      steps:\n        - match: { kind: process.exec, filename: /usr/bin/cat }\n',
      'extra.yaml',
    ).rules;
    // same shell rule (an equal definition read again), plus a new one
    m.replaceRules([...loadChainRules(chainRulesFile()).rules, ...extra]);
    expect(m.observe(exec(7, 2, '/bin/sh')).map((x) => x.rule.id)).toEqual(['shell.stdio-over-socket']);
    expect(m.observe(exec(8, 3, '/usr/bin/cat')).map((x) => x.rule.id)).toEqual(['t.cat']);
    // the shell rule changed (a shorter maxspan): what it had half seen is dropped
    m.observe(dupSock(9, 4, 0));
    const changed = shells.map((r) => (r.id === 'shell.stdio-over-socket' ? { ...r, sequence: { ...r.sequence, maxspan: 10e9 } } : r));
    m.replaceRules([...changed, ...extra]);
    expect(m.observe(exec(9, 5, '/bin/sh'))).toEqual([]);
    m.observe(dupSock(10, 6, 0));
    expect(m.observe(exec(10, 7, '/bin/sh')).map((x) => x.rule.id)).toEqual(['shell.stdio-over-socket']);
    // removed: no longer matches; an absent step waiting for a removed rule never completes
    const sent = { kind: 'flow.fd_sent', ts: 8, pid: 1, proc: proc('/usr/bin/python3'), chain_key: 'k' } as RuleInput;
    m.observe(sent);
    m.replaceRules(extra);
    expect(m.observe(exec(11, 9, '/usr/bin/cat')).map((x) => x.rule.id)).toEqual(['t.cat']);
    expect(m.tick(10e9)).toEqual([]);
    expect(m.flush()).toEqual([]);
  });

  it('supersedes: the more specific rule wins on the same input', () => {
    const m = new SequenceMatcher(shells);
    const fact = (latency: number, viaFile: boolean): RuleInput =>
      ({ kind: 'flow.transmit', ts: 100e9, pid: 1, proc: proc('/usr/bin/curl'), chain_key: `k${latency}${viaFile}`, data_class: 'secret', via_file: viaFile, latency_ns: latency }) as RuleInput;
    expect(m.observe(fact(1e9, true)).map((x) => x.rule.id)).toEqual(['exfil.read-then-transmit']);
    expect(m.observe(fact(60e9, false)).map((x) => x.rule.id)).toEqual(['exfil.read-then-transmit']);
    expect(m.observe(fact(60e9, true)).map((x) => x.rule.id)).toEqual(['exfil.staged']);
  });

  it('absent: completes when the window passes without the awaited input, is void when it comes', () => {
    const m = new SequenceMatcher(shells);
    const sent = (key: string, ts: number) => ({ kind: 'flow.fd_sent', ts, pid: 1, proc: proc('/usr/bin/python3'), chain_key: key }) as RuleInput;
    const recv = (key: string, ts: number) => ({ kind: 'flow.fd_received', ts, pid: 2, proc: proc('/usr/bin/python3'), chain_key: key }) as RuleInput;
    const other = (ts: number) => ({ kind: 'io', ts, pid: 3, proc: proc('/bin/true') }) as RuleInput;
    expect(m.observe(sent('a', 1e9))).toEqual([]);
    expect(m.observe(sent('b', 1e9))).toEqual([]);
    expect(m.observe(recv('b', 1.5e9))).toEqual([]); // b was received in the task: void
    expect(m.observe(other(2.5e9))).toEqual([]); // still inside a's 2 s window
    const hit = m.observe(other(3.5e9)); // a's window has passed: a left the task
    expect(hit.map((x) => `${x.rule.id} ${x.key}`)).toEqual(['fd.passed-to-unwatched a']);
    expect(m.observe(other(9e9))).toEqual([]);
    // at the end of the stream, what still waits is complete
    m.observe(sent('c', 10e9));
    expect(m.flush().map((x) => x.key)).toEqual(['c']);
  });

  it('field tests: lists, globs, numbers and durations, not, exists', () => {
    const rules = parseChainRules(`version: 1
rules:
  - id: t.fields
    category: policy
    severity: low
    why: test
    sequence:
      by: task
      steps:
        - match: { kind: io, bytes: { gte: 10, lt: 1ms }, res.fd.path: { glob: "/etc/**" }, proc.comm: { not: [cat, tac] }, res.fd.peer: { exists: false } }
`).rules;
    const m = new SequenceMatcher(rules);
    const io = (bytes: number, path: string, comm: string) => ({ kind: 'io', ts: 1, pid: 1, proc: { task: 't', comm }, bytes, res: { fd: { path } } }) as unknown as RuleInput;
    expect(m.observe(io(10, '/etc/passwd', 'less'))).toHaveLength(1);
    expect(m.observe(io(9, '/etc/passwd', 'less'))).toHaveLength(0);
    expect(m.observe(io(1e6, '/etc/passwd', 'less'))).toHaveLength(0);
    expect(m.observe(io(10, '/home/x', 'less'))).toHaveLength(0);
    expect(m.observe(io(10, '/etc/passwd', 'cat'))).toHaveLength(0);
  });

  it('rule files: every mistake names file, line, column and field', () => {
    const bad = (text: string): string => {
      try {
        parseChainRules(text, 'rules/chains.yaml');
      } catch (e) {
        expect((e as ChainwatchError).code).toBe('RULE_INVALID');
        return (e as ChainwatchError).message;
      }
      throw new Error('expected an error');
    };
    const head = 'version: 1\nrules:\n  - id: a.b\n    category: exfiltration\n    severity: high\n    why: w\n';
    expect(bad(`${head}    sequence:\n      by: flow\n      maxspan: 30 seconds\n      steps:\n        - match: { kind: flow.transmit }\n`)).toBe(
      'rules/chains.yaml:9:16: rules.0.sequence.maxspan: expected a duration like 500ms, 30s or 5m',
    );
    expect(bad(`${head}    sequence:\n      by: pid\n      steps:\n        - match: { kind: io }\n`)).toContain('rules/chains.yaml:8:11: rules.0.sequence.by:');
    expect(bad(`${head}    sequence:\n      by: flow\n      steps: []\n`)).toContain('rules/chains.yaml:9:14: rules.0.sequence.steps:');
    expect(bad(`${head}    supersedes: [x.y]\n    sequence:\n      by: flow\n      steps:\n        - match: { kind: flow.transmit }\n`)).toContain('rules/chains.yaml:7:18: rules.0.supersedes.0: no rule x.y in this file');
    expect(bad(`${head}    sequence:\n      by: flow\n      steps:\n        - match: { Kind!: io }\n`)).toBe(
      'rules/chains.yaml:10:27: rules.0.sequence.steps.0.match.Kind!: expected a field path like res.fd.type',
    );
    expect(bad(`${head}    severity: low\n`)).toMatch(/^rules\/chains\.yaml:\d+:\d+: not valid YAML/);
    expect(bad(`${head}    sequence:\n      by: flow\n      steps:\n        - absent: { kind: io }\n          within: 2s\n        - match: { kind: io }\n`)).toContain(
      'rules/chains.yaml:10:11: rules.0.sequence.steps.0: an absent step must be the last step, after at least one other',
    );
  });

  it('rule files: a kind, field or value no input can have is refused with its place, not loaded to never fire', () => {
    const bad = (steps: string, extra = '', by = 'process'): string => {
      try {
        parseChainRules(`version: 1\nrules:\n  - id: a.b\n    category: exfiltration\n    severity: high\n    why: w\n${extra}    sequence:\n      by: ${by}\n      steps:\n${steps}`, 'rules/chains.yaml');
      } catch (e) {
        expect((e as ChainwatchError).code).toBe('RULE_INVALID');
        return (e as ChainwatchError).message;
      }
      throw new Error('expected an error');
    };
    expect(bad('        - match: { kind: flow.transmitt }\n', '', 'flow')).toMatch(
      /^rules\/chains\.yaml:10:26: rules\.0\.sequence\.steps\.0\.match\.kind: no input has kind "flow\.transmitt"; did you mean flow\.transmit\? \(kinds: process\.seen, /,
    );
    expect(bad('        - match: { kind: io, res.fd.pth: /etc/shadow }\n')).toBe(
      'rules/chains.yaml:10:42: rules.0.sequence.steps.0.match.res.fd.pth: kind io has no field res.fd.pth; did you mean res.fd.path? (see chainwatch rules fields)',
    );
    // res carries the descriptors the state resolves for that kind: an io event has res.fd, not res.ret
    expect(bad('        - match: { kind: io, res.ret.type: socket }\n')).toContain('kind io has no field res.ret.type; did you mean res.fd.type?');
    expect(bad('        - match: { kind: io, res.fd.type: sockte }\n')).toBe(
      'rules/chains.yaml:10:43: rules.0.sequence.steps.0.match.res.fd.type: res.fd.type is one of file, dir, pipe, socket, memfd, device, anon, shm, unknown: "sockte" never matches; did you mean socket?',
    );
    expect(bad('        - match: { kind: io, res.fd.family: { not: [inet, inet7] } }\n')).toContain('res.fd.family is one of unix, inet, inet6, netlink, packet, vsock, alg, xdp, bluetooth, can, tipc, rds, other: "inet7" never matches');
    expect(bad('        - match: { kind: io, bytes: "100" }\n')).toContain('bytes holds a number, so "100" never matches');
    expect(bad('        - match: { kind: io, bytes: { glob: "1*" } }\n')).toContain('glob needs a string, and bytes holds a number');
    expect(bad('        - match: { kind: process.exec, filename: { gt: 3 } }\n')).toContain('gt needs a number, and filename holds a string');
    expect(bad('        - match: { kind: io, res.fd: socket }\n')).toContain('res.fd is an object: test one of its fields');
    // any: each alternative is checked against its own kinds
    expect(bad('        - any:\n            - { kind: process.exec, filename: /bin/sh }\n            - { kind: fd.dup, filename: /bin/sh }\n')).toBe(
      'rules/chains.yaml:12:41: rules.0.sequence.steps.0.any.1.filename: kind fd.dup has no field filename (see chainwatch rules fields)',
    );
    // by: flow joins on chain_key, which only flow facts carry
    expect(bad('        - match: { kind: [io, flow.transmit] }\n', '', 'flow')).toContain(
      'rules.0.sequence.steps.0.match.kind: by: flow joins on the data-flow chain, which only flow facts (flow.transmit, flow.fd_sent, flow.fd_received, flow.shell_relay) carry: io never matches',
    );
    expect(bad('        - match: { kind: fd.dup }\n', '    one_finding_per: res.fd.channel\n')).toContain(
      'rules/chains.yaml:7:22: rules.0.one_finding_per: the first step\'s inputs (kind fd.dup) have no field res.fd.channel; did you mean res.oldfd.channel?',
    );
    // a data_class must be one data-classes.yaml defines (when the loader is told which)
    const withClass = (cls: string): string => `version: 1\nrules:\n  - id: a.b\n    category: exfiltration\n    severity: high\n    why: w\n    sequence:\n      by: flow\n      steps:\n        - match: { kind: flow.transmit, data_class: ${cls} }\n`;
    expect(() => parseChainRules(withClass('[secret, tls-key]'), 'rules/chains.yaml', ['secret', 'tls-key'])).not.toThrow();
    expect(() => parseChainRules(withClass('{ not: secrte }'), 'rules/chains.yaml', ['secret', 'tls-key'])).toThrow(
      'rules/chains.yaml:10:60: rules.0.sequence.steps.0.match.data_class.not: no data class "secrte" in data-classes.yaml (classes: secret, tls-key)',
    );
    // no kind named: a field some input has is accepted; one none has is not
    expect(bad('        - match: { res.fd.pathh: /x }\n')).toContain('no input has a field res.fd.pathh; did you mean res.fd.path?');
    expect(() => parseChainRules('version: 1\nrules:\n  - id: a.b\n    category: exfiltration\n    severity: high\n    why: w\n    sequence:\n      by: task\n      steps:\n        - match: { res.fd.path: /x, argv.1: -c, event.res.fd.type: file }\n')).not.toThrow();
  });
});
