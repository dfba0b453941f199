import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runReplay } from '../pipeline/replay-session.js';
import { checkEvent, type Event, type EventOf } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import { parseSysdigLine } from './sysdig-line.js';
import { newImportStats, SysdigMapper } from './sysdig-mapper.js';

/**
 * The sysdig importer on recordings written in sysdig's text layout (the
 * lines are as `sysdig -r` prints them: the mmap, munmap, socketpair, splice
 * and dup3 argument forms are sysdig's own), replayed through the same
 * pipeline as watch: what each syscall becomes, and whether data is
 * followed through it to a finding.
 */
const dir = mkdtempSync(join(tmpdir(), 'cw-sysdig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000_000_000n;

/** A recording: `line(pid, comm, type, dir, args)` appends one record 1 µs after the last (tid = pid unless given). */
function recording() {
  const lines: string[] = [];
  let ts = T0;
  return {
    line(pid: number, comm: string, type: string, dir: '>' | '<', args: string, tid = pid): void {
      ts += 1000n;
      lines.push(`${ts} 0 ${pid} ${comm} ${tid} ${type} ${dir} ${args}`);
    },
    text: (): string => `${lines.join('\n')}\n`,
    async replay(name: string): Promise<{ events: Event[]; findings: Finding[]; unmapped: Record<string, number>; unknownFlags: Record<string, number> }> {
      const file = join(dir, `${name}.sc`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      const events: Event[] = [];
      const findings: Finding[] = [];
      const [s] = await runReplay({ traces: [file], onEvent: (e) => events.push(e), onFinding: (f) => findings.push(f) });
      expect(s!.imported!.malformed).toBe(0);
      return { events, findings, unmapped: s!.imported!.unmapped, unknownFlags: s!.imported!.unknownFlags };
    },
  };
}
const ofKind = <K extends Event['kind']>(evs: Event[], k: K): EventOf<K>[] => evs.filter((e): e is EventOf<K> => e.kind === k);

/** pid opens /etc/shadow as fd 3 and connects fd 4 to 203.0.113.7:443. */
function opensSecretAndConnects(r: ReturnType<typeof recording>, pid: number, comm: string): void {
  r.line(pid, comm, 'openat', '>', 'dirfd=-100(AT_FDCWD) name=/etc/shadow flags=4097(O_RDONLY|O_CLOEXEC) mode=0');
  r.line(pid, comm, 'openat', '<', 'fd=3(<f>/etc/shadow) dirfd=-100(AT_FDCWD) name=/etc/shadow flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev=FD00');
  r.line(pid, comm, 'socket', '>', 'domain=2(AF_INET) type=1 proto=0');
  r.line(pid, comm, 'socket', '<', 'fd=4(<4>)');
  r.line(pid, comm, 'connect', '>', 'fd=4(<4>) addr=203.0.113.7:443');
  r.line(pid, comm, 'connect', '<', 'res=0 tuple=10.0.0.2:40000->203.0.113.7:443 fd=4(<4t>10.0.0.2:40000->203.0.113.7:443)');
}

describe('sysdig import: mmap', () => {
  it('a private mapping of a file is a read of the mapped length: mapping /etc/shadow and sending is a finding', async () => {
    const r = recording();
    r.line(100, 'exfil', 'execve', '<', 'res=0 exe=exfil args= tid=100(exfil) pid=100(exfil) ptid=1(init) comm=exfil');
    opensSecretAndConnects(r, 100, 'exfil');
    r.line(100, 'exfil', 'mmap', '>', 'addr=0 length=1240 prot=1(PROT_READ) flags=2(MAP_PRIVATE) fd=3(<f>/etc/shadow) offset=0');
    r.line(100, 'exfil', 'mmap', '<', 'res=7FAD48770000 vm_size=440 vm_rss=4 vm_swap=0');
    r.line(100, 'exfil', 'mmap', '>', 'addr=0 length=8192 prot=3(PROT_READ|PROT_WRITE) flags=10(MAP_PRIVATE|MAP_ANONYMOUS) fd=4294967295 offset=0');
    r.line(100, 'exfil', 'mmap', '<', 'res=7FAD48782000 vm_size=448 vm_rss=4 vm_swap=0');
    r.line(100, 'exfil', 'mmap', '>', 'addr=0 length=4096 prot=1(PROT_READ) flags=2(MAP_PRIVATE) fd=3(<f>/etc/shadow) offset=0');
    r.line(100, 'exfil', 'mmap', '<', 'res=-12(ENOMEM) vm_size=448 vm_rss=4 vm_swap=0');
    r.line(100, 'exfil', 'write', '>', 'fd=4(<4t>10.0.0.2:40000->203.0.113.7:443) size=1240');
    r.line(100, 'exfil', 'write', '<', 'res=1240 data=root:x:');
    const { events, findings, unmapped } = await r.replay('mmap-private');
    const maps = ofKind(events, 'io').filter((e) => e.syscall === 'mmap');
    // the failed mapping maps nothing and is no read
    expect(maps).toHaveLength(1);
    expect(maps[0]).toMatchObject({ dir: 'in', fd: 3, bytes: 1240, calls: 1 });
    expect(maps[0]!.res?.fd?.path).toBe('/etc/shadow');
    // a private anonymous mapping moves nothing between objects: no event, counted
    expect(ofKind(events, 'mem.map')).toEqual([]);
    expect(unmapped.mmap).toBe(1);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: '/etc/shadow' }, sink: { address: '203.0.113.7', port: 443 } });
    expect(findings[0]!.chain.map((h) => h.syscall)).toEqual(['mmap', 'write']);
  });

  it('a shared anonymous mapping reaches the child it was forked to: the parent reads the secret later, the child sends it, no syscall between them', async () => {
    const r = recording();
    r.line(200, 'parent', 'execve', '<', 'res=0 exe=parent args= tid=200(parent) pid=200(parent) ptid=1(init) comm=parent');
    opensSecretAndConnects(r, 200, 'parent');
    r.line(200, 'parent', 'mmap', '>', 'addr=0 length=4096 prot=3(PROT_READ|PROT_WRITE) flags=33(MAP_SHARED|MAP_ANONYMOUS) fd=4294967295 offset=0');
    r.line(200, 'parent', 'mmap', '<', 'res=7F0000001000 vm_size=448 vm_rss=4 vm_swap=0');
    r.line(200, 'parent', 'clone', '>', '');
    r.line(201, 'parent', 'clone', '<', 'res=0 exe=parent args= tid=201(parent) pid=201(parent) ptid=200(parent) cwd= fdlimit=1024 flags=25165824(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID) uid=0 gid=0');
    r.line(200, 'parent', 'clone', '<', 'res=201 exe=parent args= tid=200(parent) pid=200(parent) ptid=1(init) cwd= fdlimit=1024 flags=25165824(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID) uid=0 gid=0');
    // the secret is read after the fork: only the shared memory can take it to the child
    r.line(200, 'parent', 'read', '>', 'fd=3(<f>/etc/shadow) size=4096');
    r.line(200, 'parent', 'read', '<', 'res=1240 data=root:x:');
    r.line(200, 'parent', 'close', '>', 'fd=4(<4t>10.0.0.2:40000->203.0.113.7:443)');
    r.line(200, 'parent', 'close', '<', 'res=0');
    r.line(201, 'parent', 'sendto', '>', 'fd=4(<4t>10.0.0.2:40000->203.0.113.7:443) size=1240 tuple=NULL');
    r.line(201, 'parent', 'sendto', '<', 'res=1240 data=root:x:');
    const { events, findings } = await r.replay('mmap-shared');
    const map = ofKind(events, 'mem.map');
    expect(map).toEqual([expect.objectContaining({ pid: 200, addr: 0x7f0000001000, len: 4096, prot: 3, flags: 0x21, fd: -1, obj: null })]);
    // an anonymous mapping reads no file
    expect(ofKind(events, 'io').filter((e) => e.syscall === 'mmap')).toEqual([]);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.process.pid).toBe(201);
    expect(findings[0]!.chain.map((h) => [h.pid, h.syscall])).toEqual([[200, 'read'], [200, 'mapped.write'], [201, 'mapped.read'], [201, 'sendto']]);
  });

  it('a shared mapping of a file is a mem.map naming the file, then a read; munmap is an event only for processes with shared mappings', async () => {
    const r = recording();
    r.line(300, 'a', 'openat', '<', 'fd=5(<f>/srv/shared.db) dirfd=-100(AT_FDCWD) name=/srv/shared.db flags=3(O_RDWR) mode=0 dev=FD00');
    r.line(300, 'a', 'mmap', '>', 'addr=0 length=65536 prot=3(PROT_READ|PROT_WRITE) flags=1(MAP_SHARED) fd=5(<f>/srv/shared.db) offset=0');
    r.line(300, 'a', 'mmap', '<', 'res=7F1234560000 vm_size=448 vm_rss=4 vm_swap=0');
    r.line(300, 'a', 'munmap', '>', 'addr=7F1234560000 length=65536');
    r.line(300, 'a', 'munmap', '<', 'res=0 vm_size=384 vm_rss=4 vm_swap=0');
    r.line(301, 'b', 'munmap', '>', 'addr=7F0000000000 length=4096');
    r.line(301, 'b', 'munmap', '<', 'res=0 vm_size=384 vm_rss=4 vm_swap=0');
    r.line(300, 'a', 'mmap', '>', 'addr=0 length=4096 prot=1(PROT_READ) flags=1(MAP_SHARED|MAP_BOGUS) fd=5(<f>/srv/shared.db) offset=0');
    r.line(300, 'a', 'mmap', '<', 'res=7F1234570000 vm_size=448 vm_rss=4 vm_swap=0');
    const { events, unmapped, unknownFlags } = await r.replay('mmap-file-shared');
    const open = ofKind(events, 'file.open')[0]!;
    const maps = ofKind(events, 'mem.map');
    expect(maps[0]).toMatchObject({ pid: 300, addr: 0x7f1234560000, len: 65536, prot: 3, flags: 1, fd: 5, obj: open.obj });
    // the map comes before the read of the mapped length, as the probe prints them
    const mapAt = events.indexOf(maps[0]!);
    expect(events[mapAt + 1]).toMatchObject({ kind: 'io', syscall: 'mmap', fd: 5, bytes: 65536 });
    expect(ofKind(events, 'mem.unmap')).toEqual([expect.objectContaining({ pid: 300, addr: 0x7f1234560000, len: 65536 })]);
    expect(unmapped.munmap).toBe(1); // process 301 has no shared mapping: its munmap changes nothing followed
    // a flag name with no Linux value is counted, the rest still mapped
    expect(unknownFlags.MAP_BOGUS).toBe(1);
    expect(maps[1]).toMatchObject({ flags: 1, prot: 1 });
  });
});

describe('sysdig import: descriptors and in-kernel copies', () => {
  it('socketpair joins two ends: a carrier writes into one, its child reads the other and sends', async () => {
    const r = recording();
    opensSecretAndConnects(r, 400, 'p');
    r.line(400, 'p', 'socketpair', '>', 'domain=1(AF_UNIX) type=1 proto=0');
    r.line(400, 'p', 'socketpair', '<', 'res=0 fd1=5(<u>) fd2=6(<u>) source=FFFF9A0000001000 peer=FFFF9A0000002000');
    r.line(400, 'p', 'clone', '>', '');
    r.line(401, 'p', 'clone', '<', 'res=0 exe=p args= tid=401(p) pid=401(p) ptid=400(p) cwd= fdlimit=1024 flags=0 uid=0 gid=0');
    r.line(400, 'p', 'clone', '<', 'res=401 exe=p args= tid=400(p) pid=400(p) ptid=1(init) cwd= fdlimit=1024 flags=0 uid=0 gid=0');
    r.line(400, 'p', 'read', '>', 'fd=3(<f>/etc/shadow) size=4096');
    r.line(400, 'p', 'read', '<', 'res=900 data=root:x:');
    r.line(400, 'p', 'write', '>', 'fd=5(<u>) size=900');
    r.line(400, 'p', 'write', '<', 'res=900 data=root:x:');
    r.line(401, 'p', 'read', '>', 'fd=6(<u>) size=4096');
    r.line(401, 'p', 'read', '<', 'res=900 data=root:x:');
    r.line(401, 'p', 'write', '>', 'fd=4(<4t>10.0.0.2:40000->203.0.113.7:443) size=900');
    r.line(401, 'p', 'write', '<', 'res=900 data=root:x:');
    const { events, findings } = await r.replay('socketpair');
    const sp = ofKind(events, 'fd.socketpair')[0]!;
    expect(sp).toMatchObject({ family: 'unix', ret: 0, fds: [5, 6] });
    expect(sp.objs[0]).not.toBe(sp.objs[1]);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.chain.map((h) => [h.pid, h.syscall])).toEqual([[400, 'read'], [400, 'write'], [401, 'read'], [401, 'write']]);
  });

  it('splice from the secret into the socket is an in-kernel copy that carries it', async () => {
    const r = recording();
    opensSecretAndConnects(r, 500, 's');
    r.line(500, 's', 'splice', '>', 'fd_in=3(<f>/etc/shadow) fd_out=4(<4t>10.0.0.2:40000->203.0.113.7:443) size=65536 flags=0');
    r.line(500, 's', 'splice', '<', 'res=1240');
    const { events, findings } = await r.replay('splice');
    expect(ofKind(events, 'io.xfer')[0]).toMatchObject({ syscall: 'splice', fd_in: 3, fd_out: 4, bytes: 1240 });
    expect(findings).toHaveLength(1);
    // an in-kernel copy is two hops: out of the file, into the socket
    expect(findings[0]!.chain.map((h) => [h.syscall, h.fd, h.object])).toEqual([
      ['splice', 3, '/etc/shadow'],
      ['splice', 4, expect.stringContaining('203.0.113.7:443')],
    ]);
  });

  it('dup3 with O_CLOEXEC and fcntl F_DUPFD_CLOEXEC make close-on-exec descriptors: gone after exec', async () => {
    const r = recording();
    r.line(600, 'sh', 'openat', '<', 'fd=3(<f>/etc/hostname) dirfd=-100(AT_FDCWD) name=/etc/hostname flags=1(O_RDONLY) mode=0 dev=FD00');
    r.line(600, 'sh', 'dup3', '>', 'fd=3(<f>/etc/hostname)');
    r.line(600, 'sh', 'dup3', '<', 'res=7 oldfd=3(<f>/etc/hostname) newfd=7(<f>/etc/hostname) flags=1(O_CLOEXEC)');
    r.line(600, 'sh', 'fcntl', '>', 'fd=3(<f>/etc/hostname) cmd=8(F_DUPFD_CLOEXEC)');
    r.line(600, 'sh', 'fcntl', '<', 'res=8(<f>/etc/hostname)');
    r.line(600, 'sh', 'dup2', '>', 'fd=3(<f>/etc/hostname)');
    r.line(600, 'sh', 'dup2', '<', 'res=9 oldfd=3(<f>/etc/hostname) newfd=9(<f>/etc/hostname)');
    r.line(600, 'cat', 'execve', '<', 'res=0 exe=cat args= tid=600(cat) pid=600(cat) ptid=1(init) comm=cat');
    for (const fd of [7, 8, 9]) {
      r.line(600, 'cat', 'read', '>', `fd=${fd} size=10`);
      r.line(600, 'cat', 'read', '<', 'res=10 data=host');
    }
    const { events } = await r.replay('dup-cloexec');
    expect(ofKind(events, 'fd.dup').map((e) => [e.syscall, e.newfd, e.flags])).toEqual([
      ['dup3', 7, 0o2000000],
      ['fcntl', 8, 0o2000000],
      ['dup2', 9, 0],
    ]);
    const reads = ofKind(events, 'io').filter((e) => e.pid === 600 && e.proc?.comm === 'cat');
    expect(reads.map((e) => [e.fd, e.res?.fd?.path])).toEqual([
      [7, undefined],
      [8, undefined],
      [9, '/etc/hostname'],
    ]);
  });
});

describe('sysdig import: untrusted recordings', () => {
  /** Values an argument may hold in a recording someone else wrote: well-formed, out of range, or garbage. */
  const value = fc.oneof(
    fc.constantFrom('0', '-1', '4294967295', '-12(ENOMEM)', '7FAD48782000', 'FFFFFFFFFFFFFFFF', '0x10', '99999999999999999999', ''),
    fc.constantFrom('3(<f>/etc/shadow)', '4(<4t>10.0.0.2:40000->203.0.113.7:443)', '5(<u>)', '6(<p>)', '-9(EBADF)', '7(<6t>[::1]:80->[::1]:9)'),
    fc.constantFrom('1(PROT_READ)', '33(MAP_SHARED|MAP_ANONYMOUS)', '1(O_CLOEXEC)', '2(AF_INET)', '1(AF_UNIX)', '8(F_DUPFD_CLOEXEC)', '3(X|Y)'),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }).map(String),
    fc.string({ maxLength: 12 }).filter((v) => !/[\s=]/.test(v)),
  );
  const names = ['fd', 'res', 'addr', 'length', 'prot', 'flags', 'domain', 'type', 'fd1', 'fd2', 'source', 'peer', 'fd_in', 'fd_out', 'fdin', 'fdout',
    'in_fd', 'out_fd', 'size', 'oldfd', 'newfd', 'cmd', 'tuple', 'name', 'ptid', 'exe', 'args', 'status', 'path', 'mode', 'ino'] as const;
  const types = ['mmap', 'munmap', 'socketpair', 'splice', 'copy_file_range', 'sendfile', 'dup', 'dup2', 'dup3', 'fcntl', 'read', 'write', 'openat',
    'close', 'socket', 'connect', 'accept4', 'pipe2', 'clone', 'execve', 'procexit', 'chdir', 'unlink', 'renameat2'] as const;
  const record = fc.record({
    pid: fc.integer({ min: 1, max: 4 }),
    type: fc.constantFrom(...types),
    dir: fc.constantFrom<'>' | '<'>('>', '<'),
    args: fc.uniqueArray(fc.tuple(fc.constantFrom(...names), value), { maxLength: 6, selector: (t) => t[0] }),
  });

  it('never throws, and every event it makes is a valid canonical event (what would not be is counted as rejected)', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 40 }), (recs) => {
        const stats = newImportStats();
        const mapper = new SysdigMapper(T0, stats);
        let ts = T0;
        for (const r of recs) {
          ts += 1000n;
          const line = `${ts} 0 ${r.pid} p ${r.pid} ${r.type} ${r.dir} ${r.args.map(([k, v]) => `${k}=${v}`).join(' ')}`;
          const rec = parseSysdigLine(line);
          if (typeof rec === 'string') throw new Error(`${rec}: ${line}`);
          const before = Object.values(stats.rejected).reduce((a, b) => a + b, 0);
          mapper.map(rec, (ev) => {
            const ok = checkEvent(ev);
            if (!ok.success) throw new Error(`${line}\n→ ${JSON.stringify(ev)}\n${ok.error.message}`);
          });
          // a rejected record says why
          const rejected = Object.values(stats.rejected).reduce((a, b) => a + b, 0) - before;
          if (rejected > 0) expect(stats.rejectedFirst).toMatch(/^[a-z_0-9]+: /);
        }
        expect(stats.records).toBe(recs.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('a value out of range is rejected and counted with the field and the reason, the records around it still mapped', () => {
    const r = recording();
    r.line(700, 'mv', 'renameat2', '<', 'res=99999999999999999999 olddirfd=-100 oldpath=/a newdirfd=-100 newpath=/b');
    r.line(700, 'mv', 'unlink', '<', 'res=0 path=/c');
    const events: Event[] = [];
    const stats = newImportStats();
    const mapper = new SysdigMapper(T0, stats);
    for (const line of r.text().split('\n').filter(Boolean)) mapper.map(parseSysdigLine(line) as Exclude<ReturnType<typeof parseSysdigLine>, string>, (e) => events.push(e));
    expect(stats.rejected).toEqual({ renameat2: 1 });
    expect(stats.rejectedFirst).toMatch(/^renameat2: ret: Too big/);
    expect(events.map((e) => e.kind)).toEqual(['snapshot.process', 'file.unlink']);
  });
});
