import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statObjId } from '../util/obj-id.js';
import { ProcFdReader, readSockets } from './proc-snapshot.js';

/** /proc/PID/net tables as this kernel prints them (header line first), one socket each. */
function fakeProc(tables: Record<string, string[]>): string {
  const root = mkdtempSync(join(tmpdir(), 'cw-proc-'));
  mkdirSync(join(root, '42', 'net'), { recursive: true });
  for (const [file, lines] of Object.entries(tables)) writeFileSync(join(root, '42', 'net', file), `${lines.join('\n')}\n`);
  return root;
}

describe('readSockets: the families and addresses of sockets open before monitoring', () => {
  it('reads inet (tcp, udp, raw, v6), unix (a path with spaces), packet and netlink tables; a table missing in the namespace is skipped', () => {
    const root = fakeProc({
      tcp: [
        '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
        '   0: 0100007F:1F90 0200007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 20 4 30 10 -1',
      ],
      raw: [
        '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
        '  14: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1002 2 00000000355bd887 0',
      ],
      udp6: [
        '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
        '   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1003 2 0000000000000000 0',
      ],
      unix: ['Num       RefCount Protocol Flags    Type St Inode Path', '0000000000000000: 00000002 00000000 00010000 0001 01 1004 /run/my app.sock'],
      packet: ['sk               RefCnt Type Proto  Iface R Rmem   User   Inode', '00000000e8efdbb1 2      3    0000   0     0 0      0      1005'],
      netlink: ['sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode', '000000001b113003 0   14275      00000000 0        0        0     2        0        1006  '],
    });
    const m = readSockets(42, root);
    expect(Object.fromEntries(m)).toEqual({
      1001: { family: 'inet', local: { addr: '127.0.0.1', port: 8080 }, peer: { addr: '127.0.0.2', port: 54321 } },
      1002: { family: 'inet', local: { addr: '0.0.0.0', port: 1 } },
      1003: { family: 'inet6', local: { addr: '::1', port: 53 } },
      1004: { family: 'unix', local: { path: '/run/my app.sock' } },
      1005: { family: 'packet' },
      1006: { family: 'netlink' },
    });
  });
});

describe('ProcFdReader: one descriptor read from /proc when first met in use', () => {
  it("names this process' file and TCP connection as the start-up snapshot would; a closed descriptor is undefined", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-fdreader-'));
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r');
    const server = createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', () => r()));
    const port = (server.address() as { port: number }).port;
    const client: Socket = await new Promise((r) => {
      const c = connect(port, '127.0.0.2', () => r(c));
    });
    try {
      const reader = new ProcFdReader();
      const base = { ts: 5, cgroup: 1, pid: process.pid, tid: process.pid };
      const st = statSync(file, { bigint: true });
      const f = reader.read(fd, base)!;
      expect(f).toEqual({ ...base, kind: 'snapshot.fd', fd, obj: statObjId(st.dev, st.ino), target: file, flags: expect.any(Number), object_type: 'file' });
      expect(f.flags & 3).toBe(0); // O_RDONLY, as fdinfo shows it
      // (the socket's descriptor, as libuv holds it)
      const sfd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      const s = reader.read(sfd, base)!;
      expect(s).toMatchObject({ kind: 'snapshot.fd', fd: sfd, object_type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port }, local: { addr: client.localAddress, port: client.localPort } });
      expect(s.target).toBe(`socket:[${s.obj!.split(':')[2]}]`);
      // by object (an io_uring operation names no descriptor): the same answer
      expect(reader.read(-1, base, s.obj!)).toEqual(s);
      expect(reader.read(-1, base, '0:0:1')).toBeUndefined();
      // the whole process, as at start: its command line first, then every descriptor, this socket's among them
      const read = reader.process(base)!;
      const whole = read.events;
      const cmdline = readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, -1);
      expect(whole[0]).toMatchObject({ kind: 'snapshot.process', pid: process.pid, ts: 5, cgroup: 1, argv: cmdline });
      expect(whole.find((e) => e.kind === 'snapshot.fd' && e.fd === sfd)).toEqual(s);
      // which program it is: told by where its command line starts (field 48 of stat), the record's or another
      expect(read.later).toBe(false);
      const argStart = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[48 - 3]);
      expect(argStart).toBeGreaterThan(0);
      expect(reader.process(base, argStart)!.later).toBe(false);
      expect(reader.process(base, argStart + 4096)!.later).toBe(true);
      closeSync(fd);
      expect(reader.read(fd, base)).toBeUndefined();
      expect(reader.process({ ...base, pid: 0x3fffffff })).toBeUndefined();
    } finally {
      client.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('a pid is taken for the process a record named only if that process had started by the record (a reused pid is not)', () => {
    const now = process.hrtime.bigint();
    // the stream began a minute ago and the record is from just now: this process had started, it is read
    const live = new ProcFdReader('/proc', 50, now - 60_000_000_000n);
    expect(live.process({ ts: 60_000_000_000, cgroup: 1, pid: process.pid, tid: process.pid })?.events[0]).toMatchObject({ kind: 'snapshot.process', pid: process.pid });
    // a record from long before this process started (its pid held by another process then, since gone): not this one
    const early = new ProcFdReader('/proc', 50, 0n);
    expect(early.process({ ts: 1_000_000, cgroup: 1, pid: process.pid, tid: process.pid })).toBeUndefined();
    // a record from just after it started (within the clocks' 10 ms steps): this one
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const startBootNs = BigInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!) * 10_000_000n;
    const uptimeNs = BigInt(Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1e9));
    const startMono = startBootNs - (uptimeNs - process.hrtime.bigint());
    expect(early.process({ ts: Number(startMono + 30_000_000n), cgroup: 1, pid: process.pid, tid: process.pid })).toBeDefined();
  });
});
