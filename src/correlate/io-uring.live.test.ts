import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Finding } from '../schema/finding.js';
import { ofKind, startExfilBench, type ExfilBench, type LiveHarness } from '../testing/live-harness.js';
import { buildUringExfil } from '../testing/scenarios.js';

/**
 * I/O done by the kernel through an io_uring ring makes no read(2), open(2),
 * connect(2) or send(2): the probe follows ring completions instead
 * (probes/chainwatch.bt, "io_uring"). A real program (src/testing/
 * uring-exfil.c, built here with gcc and liburing) exfiltrates a secret
 * through a ring under the real probes; what the probe cannot follow is
 * reported as lost events, never silent.
 */
let bench: ExfilBench | undefined;
let h: LiveHarness;
let tcp: ExfilBench['tcp'];
let dir: string;
let key: string;
let bin: string;
const KEY_TEXT = '-----BEGIN OPENSSH PRIVATE KEY-----\nchainwatch-uring-test\n-----END OPENSSH PRIVATE KEY-----\n';

beforeAll(async () => {
  // no gcc or liburing (scripts/setup.sh installs both): this fails loudly, it does not skip
  bench = await startExfilBench('uring', KEY_TEXT.repeat(10), buildUringExfil);
  ({ h, tcp, dir, key, bin } = bench);
}, 180_000);

afterAll(() => bench?.close(), 120_000);

const SIZE = KEY_TEXT.length * 10;

function only(findings: Finding[]): Finding {
  expect(findings.map((f) => `${f.rule} ${f.source.path} → ${f.sink.address}:${f.sink.port}`)).toHaveLength(1);
  const f = findings[0]!;
  expect(() => Finding.parse(f)).not.toThrow();
  return f;
}

const ringLosses = (r: { events: { kind: string }[] }): string[] => ofKind(r.events as never, 'loss').map((l) => `${l.source}×${l.events}`);

describe('live: exfiltration through io_uring', () => {
  it('openat, read, close, connect and send all through the ring: the same chain as with syscalls', async () => {
    const r = await h.run('ring', `${bin} ring ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`read ${SIZE} sent ${SIZE}`);
    // the open names the file, with its flags; the connect names the destination
    const opens = ofKind(r.events, 'file.open').filter((e) => e.syscall === 'io_uring.openat');
    expect(opens).toHaveLength(1);
    expect(opens[0]).toMatchObject({ path: key, ret: expect.any(Number) });
    // O_RDONLY, as the kernel holds it (a ring's open adds O_LARGEFILE)
    expect(opens[0]!.flags & 3).toBe(0);
    expect(opens[0]!.res?.ret?.path).toBe(key);
    // the ring's connect (no descriptor: fd -1); a connect(2) the shell makes around it is not the ring's
    const allConnects = ofKind(r.events, 'net.addr').filter((e) => e.op === 'connect');
    const connects = allConnects.filter((e) => e.fd === -1);
    expect(connects, JSON.stringify(allConnects)).toHaveLength(1);
    expect(connects[0]).toMatchObject({ addr: '127.0.0.2', port: tcp.port, ret: 0, fd: -1 });
    expect(ofKind(r.events, 'fd.close').some((e) => e.fd === opens[0]!.ret)).toBe(true);
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { address: '127.0.0.2', port: tcp.port }, bytes_read: SIZE, bytes_sent: SIZE });
    expect(f.chain.map((x) => x.syscall)).toEqual(['io_uring.read', 'io_uring.send']);
    expect(ringLosses(r)).toEqual([]);
  });

  it('many small completions on one object are summed into runs, as syscalls are: every byte and call accounted for', async () => {
    const r = await h.run('chunks', `${bin} chunks ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    const calls = Math.ceil(SIZE / 64);
    const sum = (syscall: string): { bytes: number; calls: number; events: number } => {
      const ios = ofKind(r.events, 'io').filter((e) => e.syscall === syscall);
      return { bytes: ios.reduce((a, e) => a + e.bytes, 0), calls: ios.reduce((a, e) => a + e.calls, 0), events: ios.length };
    };
    const reads = sum('io_uring.read');
    const sends = sum('io_uring.send');
    expect(reads).toMatchObject({ bytes: SIZE, calls });
    expect(sends).toMatchObject({ bytes: SIZE, calls });
    // the first completion and one sum (the run ends at the process' exit), not one event per completion
    expect(reads.events).toBe(2);
    expect(sends.events).toBe(2);
    for (const e of ofKind(r.events, 'io').filter((x) => x.syscall.startsWith('io_uring.'))) expect(e.res?.fd?.id).toBe(e.obj);
    // one chain: its first report, then the update with every send counted when the sender exits
    expect(new Set(r.findings.map((f) => f.id)).size).toBe(1);
    const last = r.findings.at(-1)!;
    expect(last.chain.map((x) => x.syscall)).toEqual(['io_uring.read', 'io_uring.send']);
    // every byte; `sends` counts transmit events (the first completion, then the run's sum), as for syscall runs
    expect(last).toMatchObject({ sends: 2, bytes_sent: SIZE });
  });

  it.each([
    ['udpmsg', 'io_uring.sendmsg'],
    ['udpto', 'io_uring.send'],
  ])('a UDP datagram through the ring with a destination and no connect (%s): the destination is the sink', async (mode, syscall) => {
    const port = 5353;
    const r = await h.run(mode, `${bin} ${mode} ${key} ${port}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`read ${SIZE} sent ${SIZE}`);
    const dests = ofKind(r.events, 'net.dest');
    expect(dests).toHaveLength(1);
    expect(dests[0]).toMatchObject({ fd: -1, ret: SIZE, family: 'inet', addr: '127.0.0.2', port });
    const f = only(r.findings);
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { family: 'inet', address: '127.0.0.2', port }, bytes_sent: SIZE });
    expect(f.chain.at(-1)).toMatchObject({ syscall, object: `socket 127.0.0.2:${port}`, fd: -1 });
    expect(ringLosses(r)).toEqual([]);
  });

  it('a send through the ring on a TCP connection made outside the watch (inherited): read from /proc by its object, it is the sink', async () => {
    const cg = h.cgroup('inherited');
    const procs = join(h.cgRoot, cg.path, 'cgroup.procs');
    // the connection is made before the process moves into the watched cgroup; then it execs the ring program on it (fd 7)
    const child = spawn('python3', ['-c', `
import os, socket
s = socket.create_connection(("127.0.0.2", ${tcp.port}))
os.dup2(s.fileno(), 7)
open("${procs}", "w").write(str(os.getpid()))
os.execv("${bin}", ["${bin}", "inherited", "${key}", "7"])
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))).toBe(0);
    expect(out.trim()).toBe(`read ${SIZE} sent ${SIZE}`);
    await h.waitFor((e) => e.kind === 'process.exit' && e.pid === child.pid && e.group_dead, 15_000);
    await new Promise((r) => setTimeout(r, 400));
    // the ring's send names the socket's object and no descriptor: the descriptor was found by the object
    const snap = ofKind(h.events, 'snapshot.fd').find((e) => e.pid === child.pid && e.fd === 7);
    expect(snap).toMatchObject({ object_type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port: tcp.port } });
    const f = only(h.findings.filter((x) => x.process.pid === child.pid));
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: key }, sink: { family: 'inet', address: '127.0.0.2', port: tcp.port } });
    expect(f.chain.at(-1)).toMatchObject({ syscall: 'io_uring.send', fd: -1, object: `socket 127.0.0.2:${tcp.port}` });
  });

  it('a registered file read through the ring after its descriptor was closed', async () => {
    const r = await h.run('fixed', `${bin} fixed ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    const f = only(r.findings);
    expect(f.chain[0]).toMatchObject({ syscall: 'io_uring.read', object: key, fd: -1 });
    expect(f.chain.at(-1)).toMatchObject({ syscall: 'io_uring.send', object: `socket 127.0.0.2:${tcp.port}` });
  });

  it('what the probe cannot follow is reported, not silent: an open into a ring-only (direct) descriptor', async () => {
    const r = await h.run('direct', `${bin} direct ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    // the file never gets a descriptor of the process: its path is not seen, the open is reported as lost
    expect(ringLosses(r)).toContain('io_uring.openat×1');
    const loss = ofKind(r.events, 'loss').find((l) => l.source === 'io_uring.openat')!;
    expect(loss.pid).toBe(ofKind(r.events, 'io').find((e) => e.syscall === 'io_uring.send')!.pid);
  });

  it('what the probe cannot follow is reported, not silent: a descriptor passed with SCM_RIGHTS by a ring sendmsg', async () => {
    const r = await h.run('rights', `${bin} rights ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('passed 1');
    // the byte sent is followed; the descriptor it carries is not, and that is said
    expect(ofKind(r.events, 'io').some((e) => e.syscall === 'io_uring.sendmsg' && e.bytes === 1)).toBe(true);
    expect(ringLosses(r)).toEqual(['io_uring.sendmsg.control×1']);
  });

  it('what the probe cannot follow is reported, not silent: splice through the ring', async () => {
    const r = await h.run('splice', `${bin} splice ${key} ${tcp.port}`);
    expect(r.code, r.stderr).toBe(0);
    expect(ringLosses(r)).toContain('io_uring.splice×1');
  });
});
