import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Finding } from '../schema/finding.js';
import { ofKind, startExfilBench, type ExfilBench, type LiveHarness } from '../testing/live-harness.js';
import { buildIa32Exfil } from '../testing/scenarios.js';

/**
 * 32-bit system calls (`int $0x80`) from a 64-bit process never reach the
 * kernel's syscalls:* tracepoints: a real program (src/testing/
 * ia32-exfil.c) opens a secret, reads it, connects and sends it that way,
 * and not one of those calls is an event. The probe's raw_syscalls program
 * sees the thread's first compat call, and the blind spot is a finding
 * (integrity.ia32-syscalls), not silence.
 */
let bench: ExfilBench | undefined;
let h: LiveHarness;
let tcp: ExfilBench['tcp'];
let key: string;
let bin: string;
const KEY_TEXT = '-----BEGIN OPENSSH PRIVATE KEY-----\nchainwatch-ia32-test\n-----END OPENSSH PRIVATE KEY-----\n';

beforeAll(async () => {
  // no gcc or static libc (scripts/setup.sh installs gcc and libc6-dev): this fails loudly, it does not skip
  bench = await startExfilBench('ia32', KEY_TEXT, buildIa32Exfil);
  ({ h, tcp, key, bin } = bench);
}, 180_000);

afterAll(() => bench?.close(), 120_000);

describe('live: 32-bit syscalls, which the syscall tracepoints do not report', () => {
  it('a secret read and sent through int 0x80 is no chain, but the compat calls are a finding naming the process', async () => {
    const r = await h.run('ia32', `${bin} ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`read ${KEY_TEXT.length} sent ${KEY_TEXT.length}`);
    // the attack worked: the secret reached the listener
    await new Promise((res) => setTimeout(res, 200));
    expect(tcp.received().toString()).toContain('chainwatch-ia32-test');
    const exec = ofKind(r.events, 'process.exec').find((e) => e.filename === bin);
    expect(exec, 'the exec of the program (a 64-bit execve) is seen').toBeDefined();
    // what the tracepoints miss: no open of the secret, no socket, no connect
    expect(ofKind(r.events, 'file.open').filter((e) => e.path === key)).toEqual([]);
    // (from its exec on: before it, the same pid was the shell, which may make unix sockets of its own, as nss lookups do)
    expect(ofKind(r.events, 'fd.socket').filter((e) => e.pid === exec!.pid && e.ts >= exec!.ts)).toEqual([]);
    // what the probe reports instead: the thread's first compat call, once
    const compat = ofKind(r.events, 'process.compat_syscall');
    expect(compat.map((e) => [e.pid, e.tid, e.nr, e.syscall])).toEqual([[exec!.pid, exec!.pid, 5, 'ia32.open']]);
    expect(compat[0]!.proc?.exe).toBe(bin);
    // and the finding: the process, its executable and command line, the rule's reason
    const found = r.findings.filter((f) => f.rule === 'integrity.ia32-syscalls');
    expect(found).toHaveLength(1);
    const f = found[0]!;
    expect(() => Finding.parse(f)).not.toThrow();
    expect(f.category).toBe('integrity');
    expect(f.process.pid).toBe(exec!.pid);
    expect(f.process.exe).toBe(bin);
    expect(f.process.args).toEqual([bin, key, String(tcp.port)]);
    expect(f.summary).toContain('32-bit');
    // its one hop is the first 32-bit call, and says that what came through such calls is not followed
    expect(f.chain).toEqual([expect.objectContaining({ pid: exec!.pid, syscall: 'ia32.open', fd: -1, object: '(32-bit syscalls: not followed)' })]);
    // nothing else is claimed about the secret: no exfiltration chain can be followed through calls that are not seen
    expect(r.findings.filter((f) => f.category === 'exfiltration')).toEqual([]);
  });

  it('64-bit programs make no compat calls: no such event, no such finding', async () => {
    const r = await h.run('x64', `cat ${key} > /dev/null; python3 -c 'open("${key}").read()'`);
    expect(r.code, r.stderr).toBe(0);
    expect(ofKind(r.events, 'file.open').filter((e) => e.path === key).length).toBeGreaterThanOrEqual(2);
    expect(ofKind(r.events, 'process.compat_syscall')).toEqual([]);
    expect(r.findings.filter((f) => f.rule === 'integrity.ia32-syscalls')).toEqual([]);
  });
});
