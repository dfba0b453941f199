import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DoctorReport } from '../pipeline/doctor.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const doctor = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [CLI, 'doctor', ...args], { encoding: 'utf8', env, timeout: 90_000 });

describe('chainwatch doctor (the real binary, the real kernel)', () => {
  it('on this machine: every check passes and the self-test watches cat read /etc/hostname, resolved, nothing lost', () => {
    const r = doctor(['--json']);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as DoctorReport;
    expect(rep.ok).toBe(true);
    expect(rep.checks.map((c) => c.name)).toEqual(['root', 'bpftrace', 'tracefs', 'tracepoints', 'btf', 'cgroup v2', 'batched delivery', 'binary records', 'attach cache', '32-bit syscalls', 'self-test']);
    for (const c of rep.checks) expect(c.ok, `${c.name}: ${c.detail}`).toBe(true);
    expect(rep.checks.find((c) => c.name === 'tracepoints')!.detail).toMatch(/^all \d{2,} the probe attaches to are present$/);
    expect(rep.checks.find((c) => c.name === 'self-test')!.detail).toMatch(/, 0 lost, .*; \d+ binary record layouts checked against bpftrace's text, 0 wrong; the read of \/etc\/hostname resolved to its file$/);
  });

  it('without bpftrace: exit 3, the check that failed with its fix, no self-test attempted; --quick runs no probes', () => {
    const r = doctor([], { ...process.env, PATH: '/nonexistent' });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/^FAIL {2}bpftrace +not found on PATH/m);
    expect(r.stdout).toContain('fix: apt-get install -y bpftrace');
    expect(r.stdout).toMatch(/^FAIL {2}self-test +not run: a required check above failed$/m);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('chainwatch cannot watch this machine yet: fix what FAILs above.');
    const q = doctor(['--quick', '--json']);
    expect(q.status).toBe(0);
    expect((JSON.parse(q.stdout) as DoctorReport).checks.some((c) => c.name === 'self-test')).toBe(false);
  });
});
