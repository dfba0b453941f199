import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../rules/policy-file.js';
import { allowedExecutables, manifestPrefix, renderEnforcement } from './enforce-probe.js';
import { renderProbe } from './probe-catalog.js';

const policy = loadPolicy(join(import.meta.dirname, '../../rules/policy.yaml')).effective;

describe('in-kernel enforcement rendering', () => {
  it('maps only exact PREFIX* manifest patterns in the kernel', () => {
    expect(manifestPrefix('/sandboxes/browse-*')).toBe('/sandboxes/browse-');
    expect(manifestPrefix('/sandboxes/*/browse-*')).toBeUndefined();
    expect(manifestPrefix('/sandboxes/**')).toBeUndefined();
    expect(manifestPrefix('/sandboxes/x')).toBeUndefined();
  });

  it('allows executables by kernel identity: symlinks resolved, one entry per file', () => {
    const x = allowedExecutables(['/bin/sh', '/usr/bin/python3', '/usr/bin/python3.*']);
    const sh = statSync('/bin/sh', { bigint: true });
    expect(x.some((e) => e.ino === sh.ino)).toBe(true);
    expect(new Set(x.map((e) => `${e.dev}:${e.ino}`)).size).toBe(x.length);
  });

  it('kill intents only; seeds existing sandboxes; IPv4 CIDR masks and ports; the rest listed as user space', () => {
    const e = renderEnforcement(policy, [
      { id: 41, path: '/sandboxes/browse-1' },
      { id: 42, path: '/sandboxes/summarize-9' },
      { id: 43, path: '/sandboxes/build-2' },
      { id: 44, path: '/elsewhere' },
    ]);
    expect(e.intents).toEqual(['browse-user-data', 'summarize-document']);
    expect(e.seed).toContain('@intent[41] = 1;');
    expect(e.seed).toContain('@intent[42] = 2;');
    expect(e.seed.some((s) => s.startsWith('@intent[43]') || s.startsWith('@intent[44]'))).toBe(false);
    // sandboxes made later get their intent at mkdir and lose it at rmdir (the map never fills up with removed ones)
    expect(e.script).toContain('tracepoint:cgroup:cgroup_mkdir');
    expect(e.script).toContain('tracepoint:cgroup:cgroup_rmdir /args->root == 0 && @intent[args->id] != 0/ { delete(@intent[args->id]); }');
    // summarize: 127.0.0.2/32 port 8443; browse: any address, ports 80 and 443
    expect(e.script).toContain(`($a & 4294967295) == ${(127 << 24) + 2}`);
    expect(e.script).toContain('$p == 8443');
    expect(e.script).toContain('($p == 80 || $p == 443)');
    expect(e.execCheck).toContain('@allowexec[1, ');
    expect(e.notInKernel.join('\n')).toContain('IPv6 and unix connects');
    // the build intent only alerts: a new build-* sandbox is marked mapped-not-enforced (999), never killed
    expect(e.script).toContain('"/sandboxes/build-", 17) == 0) { @intent[args->id] = 999; }');
  });

  it('an exec capability limited to argument forms is allowed in the kernel by executable and its arguments are checked in user space (said at start)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-enforce-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'version: 1\nintents:\n  tests:\n    description: d\n    on_violation: kill\n    exec:\n      - { id: t, paths: [/usr/bin/python3], args: [[-m, pytest, "..."]], why: tests, risk: R }\nmanifest:\n  - { cgroup: /sandboxes/tests-*, intent: tests }\n');
    const e = renderEnforcement(loadPolicy(file).effective, []);
    expect(e.seed.some((x) => x.startsWith('@allowexec[1, '))).toBe(true);
    expect(e.notInKernel).toContain('tests: exec arguments (checked in user space)');
  });

  it('renders into a probe that keeps its shape', () => {
    const e = renderEnforcement(policy, []);
    const r = renderProbe({ mode: 'host' }, [1], undefined, e);
    expect(r.script).toContain('signal("KILL")');
    expect(r.script).not.toContain('ENFORCE_EXEC');
    const plain = renderProbe({ mode: 'host' }, [1]);
    expect(plain.script).not.toContain('signal(');
    expect(plain.script).not.toContain('ENFORCE_EXEC');
  });
});
