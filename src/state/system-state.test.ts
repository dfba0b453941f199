import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Event } from '../schema/event.js';
import { ev } from '../testing/events.js';
import { stateSnapshot } from './state-snapshot.js';
import { SystemState } from './system-state.js';

/**
 * The fd-state model against a deliberately simple reference: per process a
 * map fd → (object, close-on-exec), with the kernel's lowest-free-fd rule.
 */
type RefTable = Map<number, { obj: string; cloexec: boolean }>;

type Op =
  | { op: 'open'; p: number; file: number; cloexec: boolean }
  | { op: 'dup'; p: number; fd: number }
  | { op: 'dup2'; p: number; fd: number; to: number; cloexec: boolean }
  | { op: 'close'; p: number; fd: number }
  | { op: 'fork'; p: number }
  | { op: 'exec'; p: number }
  | { op: 'exit'; p: number }
  | { op: 'setfd'; p: number; fd: number; cloexec: boolean }
  | { op: 'closeRange'; p: number; first: number; last: number; cloexec: boolean }
  | { op: 'pass'; p: number; fd: number; to: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('open' as const), p: fc.nat(5), file: fc.nat(6), cloexec: fc.boolean() }),
  fc.record({ op: fc.constant('dup' as const), p: fc.nat(5), fd: fc.nat(8) }),
  fc.record({ op: fc.constant('dup2' as const), p: fc.nat(5), fd: fc.nat(8), to: fc.nat(8), cloexec: fc.boolean() }),
  fc.record({ op: fc.constant('close' as const), p: fc.nat(5), fd: fc.nat(8) }),
  fc.record({ op: fc.constant('fork' as const), p: fc.nat(5) }),
  fc.record({ op: fc.constant('exec' as const), p: fc.nat(5) }),
  fc.record({ op: fc.constant('exit' as const), p: fc.nat(5) }),
  fc.record({ op: fc.constant('setfd' as const), p: fc.nat(5), fd: fc.nat(8), cloexec: fc.boolean() }),
  fc.record({ op: fc.constant('closeRange' as const), p: fc.nat(5), first: fc.nat(8), last: fc.nat(8), cloexec: fc.boolean() }),
  fc.record({ op: fc.constant('pass' as const), p: fc.nat(5), fd: fc.nat(8), to: fc.nat(5) }),
);

const lowestFree = (t: RefTable): number => {
  let fd = 0;
  while (t.has(fd)) fd++;
  return fd;
};

/** Runs ops on the reference and produces the events the kernel would report. */
function simulate(ops: Op[]): { events: Event[]; ref: Map<number, RefTable> } {
  const ref = new Map<number, RefTable>();
  const pids: number[] = [];
  let nextPid = 1000;
  const events: Event[] = [];
  const spawn = (): number => {
    const pid = nextPid++;
    ref.set(pid, new Map());
    pids.push(pid);
    events.push(ev.seen(pid));
    return pid;
  };
  spawn();
  for (const o of ops) {
    if (pids.length === 0) spawn();
    const pid = pids[o.p % pids.length]!;
    const t = ref.get(pid)!;
    switch (o.op) {
      case 'open': {
        const fd = lowestFree(t);
        const obj = `8:1:${100 + o.file}`;
        t.set(fd, { obj, cloexec: o.cloexec });
        events.push(ev.open(pid, fd, obj, `/f${o.file}`, o.cloexec ? 0o2000000 : 0));
        break;
      }
      case 'dup': {
        const e = t.get(o.fd);
        if (e === undefined) {
          events.push(ev.dup(pid, o.fd, -9, 0, 'dup', -1));
          break;
        }
        const fd = lowestFree(t);
        t.set(fd, { obj: e.obj, cloexec: false });
        events.push(ev.dup(pid, o.fd, fd, 0, 'dup', -1));
        break;
      }
      case 'dup2': {
        const e = t.get(o.fd);
        if (e === undefined) {
          events.push(ev.dup(pid, o.fd, -9, 0, 'dup3', o.to));
          break;
        }
        if (o.fd === o.to) {
          events.push(ev.dup(pid, o.fd, o.to, 0, 'dup2', o.to));
          break;
        }
        t.set(o.to, { obj: e.obj, cloexec: o.cloexec });
        events.push(ev.dup(pid, o.fd, o.to, o.cloexec ? 0o2000000 : 0, 'dup3', o.to));
        break;
      }
      case 'close':
        events.push(ev.close(pid, o.fd, t.delete(o.fd) ? 0 : -9));
        break;
      case 'fork': {
        const child = nextPid++;
        ref.set(child, new Map([...t].map(([fd, e]) => [fd, { ...e }])));
        pids.push(child);
        events.push(ev.fork(pid, child));
        break;
      }
      case 'exec':
        for (const [fd, e] of [...t]) if (e.cloexec) t.delete(fd);
        events.push(ev.exec(pid));
        break;
      case 'exit':
        ref.delete(pid);
        pids.splice(pids.indexOf(pid), 1);
        events.push(ev.exit(pid));
        break;
      case 'setfd': {
        const e = t.get(o.fd);
        if (e !== undefined) e.cloexec = o.cloexec;
        events.push({ ...ev.setfd(pid, o.fd, o.cloexec), ret: e === undefined ? -9 : 0 });
        break;
      }
      case 'closeRange': {
        const [first, last] = o.first <= o.last ? [o.first, o.last] : [o.last, o.first];
        for (const [fd, e] of [...t]) {
          if (fd < first || fd > last) continue;
          if (o.cloexec) e.cloexec = true;
          else t.delete(fd);
        }
        events.push(ev.closeRange(pid, first, last, o.cloexec ? 4 : 0));
        break;
      }
      case 'pass': {
        const e = t.get(o.fd);
        const to = pids[o.to % pids.length]!;
        if (e === undefined) break; // sendmsg with a bad fd fails: nothing is reported
        events.push(ev.rights(pid, 'send', o.fd, e.obj));
        const rt = ref.get(to)!;
        const fd = lowestFree(rt);
        rt.set(fd, { obj: e.obj, cloexec: false });
        events.push(ev.rights(to, 'recv', fd, e.obj));
        break;
      }
    }
  }
  return { events, ref };
}

function tableOf(st: SystemState, pid: number): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [fd, e] of st.procs.get(pid)?.fds.entries ?? []) out[fd] = `${e.obj.id}${e.cloexec ? '+cloexec' : ''}`;
  return out;
}

describe('fd-state model', () => {
  it('agrees with a reference model on random open/dup/close/fork/exec/pass sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const { events, ref } = simulate(ops);
        const st = new SystemState();
        for (const e of events) st.apply(e);
        expect([...st.procs.byPid.keys()].sort()).toEqual([...ref.keys()].sort());
        for (const [pid, t] of ref) {
          const want: Record<number, string> = {};
          for (const [fd, e] of t) want[fd] = `${e.obj}${e.cloexec ? '+cloexec' : ''}`;
          expect(tableOf(st, pid)).toEqual(want);
        }
        // no fd outlives its task: once every process exits, no object is left
        let t = 1e9;
        for (const pid of ref.keys()) st.apply({ ...ev.exit(pid), ts: t++ });
        expect(st.objects.size).toBe(0);
        expect(st.procs.size).toBe(0);
        expect(st.stats.unknownProcesses).toBe(0);
      }),
      { numRuns: 1500 },
    );
  });

  it('resolves every fd an event names, and the view does not change when the state later does', () => {
    const st = new SystemState();
    st.apply(ev.seen(1));
    st.apply(ev.open(1, 3, '8:1:612', '/etc/hostname'));
    const read = st.apply(ev.read(1, 3));
    st.apply(ev.close(1, 3));
    expect(read.res?.fd).toMatchObject({ id: '8:1:612', path: '/etc/hostname', type: 'file', flags: 0 });
    const after = st.apply(ev.read(1, 3));
    expect(after.res).toBeUndefined();
    expect(st.stats.unresolved).toBe(1);
  });

  it('heals a descriptor whose creation it never saw from the kernel identity on I/O', () => {
    const st = new SystemState();
    st.apply(ev.seen(1));
    st.apply(ev.open(2, 5, '8:1:77', '/secret'));
    const r = st.apply(ev.read(1, 4, 10, '8:1:77'));
    expect(r.res?.fd?.path).toBe('/secret');
    expect(st.stats.healed).toBe(1);
  });

  it('an io_uring op names its object, not a descriptor: resolved while live or recently closed (a registered file), never installed at fd -1', () => {
    const st = new SystemState();
    st.apply(ev.seen(1));
    st.apply(ev.open(1, 5, '8:1:77', '/secret'));
    expect(st.apply({ ...ev.read(1, -1, 10, '8:1:77'), syscall: 'io_uring.read' }).res?.fd?.path).toBe('/secret');
    st.apply(ev.close(1, 5));
    // the ring keeps the file after close(2): still the same object
    expect(st.apply({ ...ev.read(1, -1, 10, '8:1:77'), syscall: 'io_uring.read' }).res?.fd?.path).toBe('/secret');
    expect(st.procs.get(1)!.fds.get(-1)).toBeUndefined();
    expect(st.stats.healed).toBe(0);
    // an object the state never met: unresolved, counted
    expect(st.apply({ ...ev.read(1, -1, 10, '8:1:99'), syscall: 'io_uring.read' }).res).toBeUndefined();
    expect(st.stats.unresolved).toBe(1);
  });

  it('a descriptor that arrived unseen (sendmmsg) naming a file closed a moment ago resolves to that file; a socket inode reused does not inherit the old socket', () => {
    const st = new SystemState();
    st.apply(ev.seen(1));
    st.apply(ev.open(1, 5, '8:1:77', '/secret'));
    st.apply(ev.close(1, 5));
    const r = st.apply(ev.read(1, 6, 10, '8:1:77'));
    expect(r.res?.fd).toMatchObject({ id: '8:1:77', type: 'file', path: '/secret' });
    expect(st.stats.healed).toBe(1);
    st.apply({ kind: 'fd.socket', ts: 2, cgroup: 1, pid: 1, tid: 1, family: 'inet', sock_type: 1, protocol: 0, ret: 7, obj: '0:9:500' });
    st.apply({ kind: 'net.addr', ts: 3, cgroup: 1, pid: 1, tid: 1, op: 'connect', fd: 7, ret: 0, obj: '0:9:500', family: 'inet', addr: '10.0.0.1', port: 443, peer_obj: null });
    st.apply(ev.close(1, 7));
    const s = st.apply(ev.read(1, 8, 10, '0:9:500'));
    expect(s.res?.fd?.peer).toBeUndefined();
    expect(s.res?.fd?.type).toBe('unknown');
  });

  it('an io_uring send with a destination (fd -1, the socket by obj) gives the socket that peer, as sendto does', () => {
    const st = new SystemState();
    st.apply(ev.seen(1));
    st.apply({ kind: 'fd.socket', ts: 2, cgroup: 1, pid: 1, tid: 1, family: 'inet', sock_type: 2, protocol: 0, ret: 6, obj: '0:9:500' });
    const r = st.apply({ kind: 'net.dest', ts: 3, cgroup: 1, pid: 1, tid: 1, fd: -1, ret: 900, family: 'inet', addr: '127.0.0.2', port: 5353, obj: '0:9:500' });
    expect(r.res?.fd).toMatchObject({ id: '0:9:500', peer: { addr: '127.0.0.2', port: 5353 } });
    expect(st.apply({ ...ev.read(1, -1, 900, '0:9:500'), dir: 'out', syscall: 'io_uring.sendmsg' }).res?.fd?.peer).toEqual({ addr: '127.0.0.2', port: 5353 });
    expect(st.procs.get(1)!.fds.get(-1)).toBeUndefined();
    expect(st.stats.unresolved).toBe(0);
  });

  it('resolves relative paths against the cwd and keeps an object named across a rename', () => {
    const st = new SystemState();
    st.apply({ kind: 'snapshot.process', ts: 1, cgroup: 1, pid: 1, tid: 1, ppid: 0, comm: 'sh', argv: [], cwd: '/home/u' });
    const o = st.apply({ ...ev.open(1, 3, '8:1:9', '../u/./.ssh/id_rsa') });
    expect(o.abs?.path).toBe('/home/u/.ssh/id_rsa');
    st.apply({ kind: 'file.path2', ts: 5, cgroup: 1, pid: 1, tid: 1, syscall: 'rename', op: 'rename', old_dirfd: -100, old_path: '.ssh/id_rsa', new_dirfd: -100, new_path: '/tmp/x', flags: 0, ret: 0 });
    const moved = st.apply(ev.read(1, 3)).res?.fd;
    expect(moved?.path).toBe('/tmp/x');
    // and it keeps the name it had: the first one judges it (a secret renamed is still the secret)
    expect(moved?.aka).toBe('/home/u/.ssh/id_rsa');
  });

  it('a file open under a second name (a hard link) keeps its first name; opened under its first name again, it has no other', () => {
    const st = new SystemState();
    st.apply({ kind: 'snapshot.process', ts: 1, cgroup: 1, pid: 1, tid: 1, ppid: 0, comm: 'sh', argv: [], cwd: '/' });
    st.apply(ev.open(1, 3, '8:1:9', '/home/u/.ssh/id_rsa'));
    const second = st.apply(ev.open(1, 4, '8:1:9', '/tmp/notes.txt'));
    expect(second.res?.ret).toMatchObject({ path: '/tmp/notes.txt', aka: '/home/u/.ssh/id_rsa' });
    // one object: both descriptors show it as it is now
    expect(st.apply(ev.read(1, 3)).res?.fd).toMatchObject({ path: '/tmp/notes.txt', aka: '/home/u/.ssh/id_rsa' });
    const again = st.apply(ev.open(1, 5, '8:1:9', '/home/u/.ssh/id_rsa'));
    expect(again.res?.ret?.path).toBe('/home/u/.ssh/id_rsa');
    expect(again.res?.ret?.aka).toBeUndefined();
    // another file under that second name (not linked): no first name of its own
    st.apply(ev.close(1, 3));
    st.apply(ev.close(1, 4));
    st.apply(ev.close(1, 5));
    expect(st.apply(ev.open(1, 3, '8:1:10', '/tmp/notes.txt')).res?.ret?.aka).toBeUndefined();
  });

  it('a link or rename seen names the file its first name when it is opened under the new one (never opened before); an unlink ends it', () => {
    const st = new SystemState();
    st.apply({ kind: 'snapshot.process', ts: 1, cgroup: 1, pid: 1, tid: 1, ppid: 0, comm: 'sh', argv: [], cwd: '/home/u' });
    const link = (op: 'link' | 'rename', from: string, to: string, ret = 0): void => {
      st.apply({ kind: 'file.path2', ts: 2, cgroup: 1, pid: 1, tid: 1, syscall: op === 'link' ? 'linkat' : 'renameat2', op, old_dirfd: -100, old_path: from, new_dirfd: -100, new_path: to, flags: 0, ret });
    };
    link('link', '.ssh/id_rsa', '/tmp/a');
    const a = st.apply(ev.open(1, 3, '8:1:20', '/tmp/a'));
    expect(a.abs).toEqual({ path: '/tmp/a', aka: '/home/u/.ssh/id_rsa' });
    expect(a.res?.ret).toMatchObject({ path: '/tmp/a', aka: '/home/u/.ssh/id_rsa' });
    // a failed link gives no name
    link('link', '/etc/shadow', '/tmp/b', -13);
    expect(st.apply(ev.open(1, 4, '8:1:21', '/tmp/b')).abs).toEqual({ path: '/tmp/b' });
    // a directory renamed: what is under it
    link('rename', '/home/u/.ssh', '/home/u/keys');
    expect(st.apply(ev.open(1, 5, '8:1:22', 'keys/id_ecdsa')).abs).toEqual({ path: '/home/u/keys/id_ecdsa', aka: '/home/u/.ssh/id_ecdsa' });
    st.apply({ kind: 'file.unlink', ts: 3, cgroup: 1, pid: 1, tid: 1, syscall: 'unlinkat', dirfd: -100, path: '/tmp/a', flags: 0, ret: 0 });
    expect(st.apply(ev.open(1, 6, '8:1:23', '/tmp/a', 0o100)).abs).toEqual({ path: '/tmp/a' });
  });
});

describe('process trees', () => {
  it('a child joins its parent’s tree within a task; a process in another cgroup starts its own', () => {
    const st = new SystemState();
    const seen = st.apply({ kind: 'process.seen', ts: 1, cgroup: 5, pid: 100, tid: 100, ppid: 1, comm: 'agent' });
    expect(seen.proc?.tree).toBe(100);
    st.apply({ kind: 'process.fork', ts: 2, cgroup: 5, pid: 100, tid: 100, child_tid: 101, thread: false, clone_flags: 17 });
    st.apply({ kind: 'process.fork', ts: 3, cgroup: 5, pid: 101, tid: 101, child_tid: 102, thread: false, clone_flags: 17 });
    const grandchild = st.apply({ kind: 'fd.close', ts: 4, cgroup: 5, pid: 102, tid: 102, fd: 3, ret: 0 });
    expect(grandchild.proc?.tree).toBe(100);
    // a child moved into another cgroup (another sandbox) starts a tree of its own
    st.apply({ kind: 'process.fork', ts: 5, cgroup: 5, pid: 100, tid: 100, child_tid: 103, thread: false, clone_flags: 17 });
    expect(st.apply({ kind: 'fd.close', ts: 6, cgroup: 6, pid: 103, tid: 103, fd: 3, ret: 0 }).proc?.tree).toBe(103);
  });
});

describe('cgroups that come and go', () => {
  it('a removed cgroup is forgotten: the state keeps names only for cgroups that exist', () => {
    const st = new SystemState();
    st.apply({ kind: 'task.cgroup', ts: 1, cgroup: 50, pid: 0, tid: 0, path: '/sandboxes/a', task: 'a' });
    st.apply({ ...ev.close(10, 3), cgroup: 50 });
    expect(st.taskOf(50)).toBe('a');
    expect(st.cgroups.size).toBe(1);
    st.apply({ kind: 'task.cgroup_gone', ts: 3, cgroup: 50, pid: 0, tid: 0, path: '/sandboxes/a', task: 'a' });
    expect(st.cgroups.size).toBe(0);
  });
});

/** Every process and every descriptor's view, as a comparable picture. */
function picture(st: SystemState): unknown {
  const procs = [...st.procs.byPid.values()].sort((a, b) => a.pid - b.pid);
  return {
    cgroups: [...st.cgroups].sort((a, b) => a[0] - b[0]),
    procs: procs.map((p) => ({
      pid: p.pid, ppid: p.ppid, comm: p.comm, exe: p.exe, argv: p.argv ?? [], cwd: p.cwd, cgroup: p.cgroup, tree: p.tree,
      fds: [...p.fds.entries.keys()].sort((a, b) => a - b).map((fd) => [fd, st.viewOf(p.fds, fd)]),
    })),
    objects: st.objects.size,
  };
}

describe('the state as events (the start of a rotated recording\'s later segment)', () => {
  it('applied to an empty state, gives the same processes, descriptors and views (random sequences)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const { events } = simulate(ops);
        const a = new SystemState();
        for (const e of events) a.apply(e);
        const b = new SystemState();
        for (const e of stateSnapshot(a, 5e9)) b.apply(e);
        expect(picture(b)).toEqual(picture(a));
      }),
      { numRuns: 500 },
    );
  });

  it('pidfd_getfd: the new descriptor points at the target\'s object with its flags, close-on-exec; an unknown target falls back to the kernel identity', () => {
    const st = new SystemState();
    let ts = 1;
    const b0 = (pid: number) => ({ ts: ts++, cgroup: 7, pid, tid: pid });
    st.apply({ ...b0(20), kind: 'process.seen', ppid: 1, comm: 'holder' });
    st.apply({ ...b0(20), kind: 'file.open', syscall: 'openat', dirfd: -100, path: '/etc/shadow', path_truncated: false, flags: 0o2, mode: 0, ret: 5, obj: '8:1:42', file_type: 'file' });
    st.apply({ ...b0(21), kind: 'process.seen', ppid: 1, comm: 'taker' });
    const got = st.apply({ ...b0(21), kind: 'fd.getfd', pidfd: 3, target_fd: 5, target: 20, ret: 4, obj: '8:1:42' });
    expect(got.res?.ret).toMatchObject({ id: '8:1:42', path: '/etc/shadow', flags: 0o2, cloexec: true });
    // the target unknown: the kernel's identity names the (live) object
    const blind = st.apply({ ...b0(21), kind: 'fd.getfd', pidfd: 3, target_fd: 9, target: -1, ret: 6, obj: '8:1:42' });
    expect(blind.res?.ret).toMatchObject({ id: '8:1:42', path: '/etc/shadow', cloexec: true });
    expect(blind.res?.ret?.flags).toBeUndefined();
    // a failed call installs nothing
    st.apply({ ...b0(21), kind: 'fd.getfd', pidfd: 3, target_fd: 9, target: 20, ret: -9, obj: null });
    expect(st.procs.get(21)!.fds.get(-9)).toBeUndefined();
    st.apply({ ...b0(21), kind: 'process.exec', filename: '/bin/sh', argv: ['sh'], argv_truncated: false, old_tid: 21, ppid: 1, exe_obj: null });
    expect(st.procs.get(21)!.fds.entries.size).toBe(0);
  });

  it('a descriptor received close-on-exec (MSG_CMSG_CLOEXEC) is gone after exec; one received without it stays', () => {
    const st = new SystemState();
    let ts = 1;
    const b0 = (pid: number) => ({ ts: ts++, cgroup: 7, pid, tid: pid });
    st.apply({ ...b0(10), kind: 'process.seen', ppid: 1, comm: 'agent' });
    st.apply({ ...b0(10), kind: 'fd.rights', dir: 'recv', sock_fd: 6, index: 0, count: 2, fd: 9, obj: '8:1:900', cloexec: true });
    st.apply({ ...b0(10), kind: 'fd.rights', dir: 'recv', sock_fd: 6, index: 1, count: 2, fd: 10, obj: '8:1:901' });
    expect(st.viewOf(st.procs.get(10)!.fds, 9)?.cloexec).toBe(true);
    st.apply({ ...b0(10), kind: 'process.exec', filename: '/bin/sh', argv: ['sh'], argv_truncated: false, old_tid: 10, ppid: 1, exe_obj: null });
    expect(st.procs.get(10)!.fds.get(9)).toBeUndefined();
    expect(st.viewOf(st.procs.get(10)!.fds, 10)?.id).toBe('8:1:901');
  });

  it('keeps pipes, socket pairs, accepted and connected sockets, memfds, unknown flags, cgroup names and process trees', () => {
    const a = new SystemState();
    let ts = 1;
    const b0 = (pid: number, cgroup = 7) => ({ ts: ts++, cgroup, pid, tid: pid });
    const evs: Event[] = [
      { kind: 'task.cgroup', ts: ts++, cgroup: 7, pid: 0, tid: 0, path: '/sandboxes/sbx-1', task: 'sbx-1' },
      { ...b0(10), kind: 'process.seen', ppid: 1, comm: 'agent' },
      { ...b0(10), kind: 'fd.pipe', flags: 0, ret: 0, fds: [3, 4], obj: '0:15:500' },
      { ...b0(10), kind: 'fd.socketpair', family: 'unix', sock_type: 1, ret: 0, fds: [5, 6], objs: ['0:9:600', '0:9:601'] },
      { ...b0(10), kind: 'fd.socket', family: 'inet', sock_type: 1, protocol: 0, ret: 7, obj: '0:9:700' },
      { ...b0(10), kind: 'net.addr', op: 'connect', fd: 7, ret: 0, obj: '0:9:700', family: 'inet', addr: '127.0.0.2', port: 443, peer_obj: null },
      { ...b0(10), kind: 'file.memfd', name: 'stage', flags: 0, ret: 8, obj: '0:1:800' },
      { ...b0(10), kind: 'process.fork', child_tid: 11, thread: false, clone_flags: 17 },
      { ...b0(11), kind: 'process.exec', filename: '/usr/bin/python3', argv: ['python3', '-c', 'x'], argv_truncated: false, old_tid: 11, ppid: 10, exe_obj: null },
      // received over SCM_RIGHTS with no send seen: its open flags are unknown
      { ...b0(11), kind: 'fd.rights', dir: 'recv', sock_fd: 6, index: 0, count: 1, fd: 9, obj: '8:1:900' },
      { ...b0(11), kind: 'net.accept', syscall: 'accept4', listen_fd: 7, ret: 12, obj: '0:9:1200', family: 'inet', peer_addr: '10.0.0.5', peer_port: 5555, local_port: 8080, peer_obj: null },
      // a secret open under a second name (a hard link): it keeps its first name
      { ...b0(11), kind: 'file.open', syscall: 'openat', dirfd: -100, path: '/home/u/.ssh/id_rsa', path_truncated: false, flags: 0, mode: 0, ret: 13, obj: '8:1:1300', file_type: 'file' },
      { ...b0(11), kind: 'file.open', syscall: 'openat', dirfd: -100, path: '/tmp/notes.txt', path_truncated: false, flags: 0, mode: 0, ret: 14, obj: '8:1:1300', file_type: 'file' },
    ] as Event[];
    for (const e of evs) a.apply(Event.parse(e));
    const b = new SystemState();
    const snap = stateSnapshot(a, 5e9);
    // every one is a canonical event (a trace reader validates them)
    for (const e of snap) expect(Event.safeParse(e).success, JSON.stringify(e)).toBe(true);
    for (const e of snap) b.apply(e);
    expect(picture(b)).toEqual(picture(a));
    const views = (picture(a) as { procs: { pid: number; fds: [number, { type: string; flags?: number; accepted?: boolean; peer?: unknown; channel: string }][] }[] }).procs;
    const child = views.find((p) => p.pid === 11)!;
    expect(child.fds.map(([fd, v]) => [fd, v.type])).toEqual([[3, 'pipe'], [4, 'pipe'], [5, 'socket'], [6, 'socket'], [7, 'socket'], [8, 'memfd'], [9, 'unknown'], [12, 'socket'], [13, 'file'], [14, 'file']]);
    expect(child.fds.find(([fd]) => fd === 13)![1]).toMatchObject({ path: '/tmp/notes.txt', aka: '/home/u/.ssh/id_rsa' });
    expect(child.fds.find(([fd]) => fd === 9)![1].flags).toBeUndefined();
    expect(child.fds.find(([fd]) => fd === 12)![1]).toMatchObject({ accepted: true, peer: { addr: '10.0.0.5', port: 5555 } });
    expect(child.fds.find(([fd]) => fd === 5)![1].channel).toBe('pair:0:9:600|0:9:601');
    expect(a.procs.get(11)!.tree).toBe(10);
  });
});
