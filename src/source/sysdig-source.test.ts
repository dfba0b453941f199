import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runReplay } from '../pipeline/replay-session.js';
import type { Event, EventOf } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';

/**
 * Imports of recordings no one here wrote (replays/imported/README.md),
 * through the same pipeline as watch. Needs Debian's sysdig and unzip
 * (scripts/setup.sh installs both); without them these tests fail.
 */
const dir = join(import.meta.dirname, '../../replays/imported');

async function replay(file: string): Promise<{ events: Event[]; findings: Finding[]; s: Awaited<ReturnType<typeof runReplay>>[number] }> {
  const events: Event[] = [];
  const findings: Finding[] = [];
  const [s] = await runReplay({ traces: [join(dir, file)], onEvent: (e) => events.push(e), onFinding: (f) => findings.push(f) });
  return { events, findings, s: s! };
}
const ofKind = <K extends Event['kind']>(evs: Event[], k: K): EventOf<K>[] => evs.filter((e): e is EventOf<K> => e.kind === k);

describe('LID-DS 2021: aggressive_nightingale_1018 (Apache under a brute-force attack)', () => {
  it('gives the Apache workers’ process and fd picture: .htpasswd reads, the attacker’s connections', async () => {
    const { events, findings, s } = await replay('aggressive_nightingale_1018.zip');
    expect(s.header.imported_from).toMatchObject({ format: 'lid-ds', file: 'aggressive_nightingale_1018.zip' });
    expect(s.imported!.records).toBe(23468);
    expect(s.imported!.malformed).toBe(0);
    expect(s.imported!.unpaired).toEqual({});
    // what has no canonical event is counted by syscall, not dropped silently
    expect(s.imported!.unmapped.poll).toBe(1075);
    // every .htpasswd read resolves, through the fd table, to the file, in an apache2 worker
    const htpasswd = ofKind(events, 'io').filter((e) => e.res?.fd?.path === '/etc/apache2/.htpasswd');
    expect(htpasswd.length).toBeGreaterThan(100);
    expect(new Set(htpasswd.map((e) => e.proc?.comm))).toEqual(new Set(['apache2']));
    expect(new Set(htpasswd.map((e) => e.pid)).size).toBeGreaterThanOrEqual(5);
    // the attacker is the most frequent peer, and the responses to it go out over the accepted sockets
    const accepts = ofKind(events, 'net.accept');
    const byPeer = new Map<string, number>();
    for (const a of accepts) byPeer.set(a.peer_addr!, (byPeer.get(a.peer_addr!) ?? 0) + 1);
    const top = [...byPeer].sort((a, b) => b[1] - a[1])[0]!;
    expect(top[0]).toBe('192.168.240.20');
    expect(top[1]).toBeGreaterThan(200);
    const toAttacker = ofKind(events, 'io').filter((e) => e.dir === 'out' && e.res?.fd?.peer?.addr === '192.168.240.20');
    expect(toAttacker.length).toBeGreaterThan(100);
    expect(toAttacker.every((e) => e.res?.fd?.type === 'socket' && e.res.fd.peer?.port !== undefined)).toBe(true);
    // the label file's exploit time becomes an annotation on the trace's clock
    expect(s.header.annotations).toEqual([{ ts: expect.any(Number), label: 'exploit: attack', source: 'SYSDIG' }]);
    expect(s.header.annotations![0]!.ts / 1e9).toBeCloseTo(10.13, 1);
    expect((s.header.imported_from!.labels as { exploit: boolean }).exploit).toBe(true);
    // .htpasswd is not in the shipped `secret` class: Apache reading it and answering over TLS is no finding
    expect(findings).toEqual([]);
  });
});

describe('Falco test-suite captures (.scap through sysdig)', () => {
  it('connect_localhost: a socket, then a non-blocking connect to 127.0.0.1:80 on it', async () => {
    const { events } = await replay('connect_localhost.scap');
    const sock = ofKind(events, 'fd.socket').find((e) => e.pid === 31699)!;
    expect(sock).toMatchObject({ family: 'inet', ret: 4 });
    const c = ofKind(events, 'net.addr').find((e) => e.pid === 31699)!;
    expect(c).toMatchObject({ op: 'connect', fd: 4, ret: -115, addr: '127.0.0.1', port: 80 });
    expect(c.res?.fd?.id).toBe(sock.obj);
  });

  it('cat_write: exec, opens with their flags, reads resolved to their files; unknown records counted', async () => {
    const { events, s } = await replay('cat_write.scap');
    expect(ofKind(events, 'process.exec').map((e) => e.filename)).toEqual(['cat']);
    const opens = ofKind(events, 'file.open');
    expect(opens.map((o) => o.path)).toContain('/dev/null');
    const libc = opens.find((o) => o.path === '/lib/x86_64-linux-gnu/libc.so.6')!;
    expect(libc.flags).toBe(0o2000000); // O_RDONLY|O_CLOEXEC in Linux's values, not sysdig's
    const read = ofKind(events, 'io').find((e) => e.bytes === 832)!;
    expect(read.res?.fd?.path).toBe('/lib/x86_64-linux-gnu/libc.so.6');
    // the loader maps libc: a read of the mapped length from the file it opened (as the live probe sees mmap)
    const mapped = ofKind(events, 'io').filter((e) => e.syscall === 'mmap');
    expect(mapped.map((e) => [e.res?.fd?.path, e.bytes])).toEqual([
      ['/etc/ld.so.cache', 72949],
      ['/lib/x86_64-linux-gnu/libc.so.6', 3972864],
      ['/lib/x86_64-linux-gnu/libc.so.6', 24576],
      ...mapped.slice(3).map((e) => [e.res?.fd?.path, e.bytes]),
    ]);
    // anonymous private mappings move nothing between objects: counted, with every syscall that has no event
    expect(s.imported!.unmapped.mmap).toBe(10 - mapped.length);
    expect(s.imported!.unmapped['<unknown>']).toBe(1); // one syscall sysdig could not name (enter + exit)
    expect(s.imported!.malformed).toBe(0);
  });

  it('every capture imports without malformed lines', async () => {
    for (const f of ['curl_google.scap', 'open-multiple-files.scap', 'ping_sendto.scap', 'syscall.scap']) {
      const { s } = await replay(f);
      expect(s.imported!.malformed, f).toBe(0);
      expect(s.events, f).toBeGreaterThan(0);
    }
  });
});
