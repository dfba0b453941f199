import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSockets } from './proc-snapshot.js';

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
