import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { from } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Event, EventOf } from '../../schema/event.js';
import { ProcFdReader } from '../../source/proc-snapshot.js';
import { SystemState } from '../../state/system-state.js';
import { healFromProc, newHealStats, type FdReader, type ProcessReader } from './heal-from-proc.js';

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

const base = (pid: number, ts: number) => ({ ts, cgroup: 7, pid, tid: pid });
const seen = (pid: number): Event => ({ ...base(pid, 1), kind: 'process.seen', ppid: 1, comm: 'py' });
/** The processes of these tests were described by the start-up snapshot (a process' first sight is tested on its own below). */
const atStart = (pid: number): Event => ({ ...base(pid, 0), kind: 'snapshot.process', ppid: 1, comm: 'py', argv: ['py'] });
/** Some process makes a socket: its object's device is sockfs's (0:8 here). */
const madeSocket: Event = { ...base(30, 1), kind: 'fd.socket', family: 'inet', sock_type: 1, protocol: 0, ret: 3, obj: '0:8:100' };
const write = (pid: number, fd: number, obj: string, ts: number): Event => ({ ...base(pid, ts), kind: 'io', dir: 'out', syscall: 'write', fd, bytes: 10, calls: 1, ts_first: ts, obj });

/** What /proc would say: fd 5 a TCP connection to 127.0.0.2:9000 (object 0:8:500), fd 6 one end of a unix socketpair. */
const proc: FdReader = (fd, b) => {
  if (fd === 5) return { ...b, kind: 'snapshot.fd', fd, obj: '0:8:500', target: 'socket:[500]', flags: 2, object_type: 'socket', family: 'inet', local: { addr: '127.0.0.1', port: 40000 }, peer: { addr: '127.0.0.2', port: 9000 } };
  if (fd === 6) return { ...b, kind: 'snapshot.fd', fd, obj: '0:8:600', target: 'socket:[600]', flags: 2, object_type: 'socket', family: 'unix' };
  return undefined;
};

/** The events through the operator, then the state, as in watch; the resolved events, the stats and how many lookups. */
function run(events: Event[], read: FdReader = proc, perSecond = 200, processes: ProcessReader = () => undefined) {
  const state = new SystemState();
  const stats = newHealStats();
  const out: Event[] = [];
  let reads = 0;
  from(events)
    .pipe(healFromProc({ fd: (fd, b, obj) => (reads++, read(fd, b, obj)), process: processes }, stats, perSecond, () => 0))
    .subscribe((ev) => out.push(state.apply(ev)));
  return { out, stats, reads, state };
}

describe('healFromProc: descriptors first met in use are read from /proc', () => {
  it('inserts what /proc says before the event, so an inherited TCP socket resolves to its peer and a socketpair end to a unix socket', () => {
    const { out, stats, state } = run([madeSocket, atStart(40), seen(40), write(40, 5, '0:8:500', 10), write(40, 6, '0:8:600', 11), write(40, 5, '0:8:500', 12)]);
    expect(out.map((e) => e.kind)).toEqual(['fd.socket', 'snapshot.process', 'process.seen', 'snapshot.fd', 'io', 'snapshot.fd', 'io', 'io']);
    const io = out.filter((e): e is EventOf<'io'> => e.kind === 'io');
    expect(io[0]!.res?.fd).toMatchObject({ type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } });
    expect(io[1]!.res?.fd).toMatchObject({ type: 'socket', family: 'unix' });
    // the second write on fd 5 needs no lookup: it is known now
    expect(stats).toMatchObject({ processes: 0, healed: 2, gone: 0, mismatched: 0, skipped: 0 });
    expect(state.stats.healed).toBe(0);
  });

  it('an io_uring operation names the object, not the descriptor: the descriptor that points at it is looked for', () => {
    const asked: [number, string][] = [];
    const byObject: FdReader = (fd, b, obj) => (asked.push([fd, obj]), obj === '0:8:500' ? proc(5, b, obj) : undefined);
    const ringSend: Event = { ...base(45, 10), kind: 'io', dir: 'out', syscall: 'io_uring.send', fd: -1, bytes: 10, calls: 1, ts_first: 10, obj: '0:8:500' };
    const { out, stats } = run([madeSocket, atStart(45), seen(45), ringSend], byObject);
    expect(asked).toEqual([[-1, '0:8:500']]);
    expect(out.map((e) => e.kind)).toEqual(['fd.socket', 'snapshot.process', 'process.seen', 'snapshot.fd', 'io']);
    // the state resolves the ring's send through the object it now knows
    expect((out[4] as EventOf<'io'>).res?.fd).toMatchObject({ type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } });
    expect(stats.healed).toBe(1);
  });

  it('a socket seen made is not looked up, nor a file; a device no event named is classified by one lookup', () => {
    const open: Event = { ...base(41, 2), kind: 'fd.socket', family: 'inet', sock_type: 1, protocol: 0, ret: 5, obj: '0:8:500' };
    const { reads, stats } = run([atStart(41), seen(41), open, write(41, 5, '0:8:500', 3)]);
    // a file on a filesystem the events show files opened on: never looked up
    const opened: Event = { ...base(41, 2), kind: 'file.open', syscall: 'openat', dirfd: -100, path: '/a', path_truncated: false, flags: 0, mode: 0, ret: 3, obj: '254:0:1', file_type: 'file' };
    expect(run([opened, seen(41), write(41, 5, '254:0:77', 3)]).reads).toBe(0);
    // a device no event has named yet: its first object is looked up, which tells what the device holds
    const first = run([atStart(41), seen(41), write(41, 5, '0:8:500', 3), write(41, 6, '0:8:600', 4)]);
    expect(first.stats.healed).toBe(2);
    const fileDev: FdReader = (fd, b) => ({ ...b, kind: 'snapshot.fd', fd, obj: `8:3:${fd}`, target: `/data/${fd}`, flags: 0, object_type: 'file' });
    const files = run([atStart(41), seen(41), write(41, 7, '8:3:7', 3), write(41, 8, '8:3:8', 4)], fileDev);
    expect(files.reads).toBe(1);
    expect(files.stats.healed).toBe(0);
    expect(files.out.map((e) => e.kind)).toEqual(['snapshot.process', 'process.seen', 'io', 'io']);
    // nothing found on an unnamed device (the process gone): nothing counted, nothing learnt; the next object there is looked up
    const unnamed = run([atStart(41), seen(41), write(41, 9, '0:8:901', 3), write(41, 5, '0:8:500', 4)]);
    expect(unnamed.reads).toBe(2);
    expect(unnamed.stats).toMatchObject({ healed: 1, gone: 0, mismatched: 0, skipped: 0 });
    expect(reads).toBe(0);
    expect(stats.healed).toBe(0);
  });

  it('uses /proc only when it shows the object the kernel named; a gone descriptor is counted; lookups stay within the rate bound', () => {
    // fd 5 closed and reused for another object by the time it is looked up
    const reused = run([madeSocket, atStart(42), seen(42), write(42, 5, '0:8:999', 10)]);
    expect(reused.out.map((e) => e.kind)).toEqual(['fd.socket', 'snapshot.process', 'process.seen', 'io']);
    expect(reused.stats).toMatchObject({ healed: 0, mismatched: 1 });
    const gone = run([madeSocket, atStart(43), seen(43), write(43, 9, '0:8:900', 10)]);
    expect(gone.stats).toMatchObject({ healed: 0, gone: 1 });
    // a use that arrives before the record of its making (another CPU's buffer): not found, and not gone either
    const pipe: Event = { ...base(43, 9), kind: 'fd.pipe', flags: 0, ret: 0, fds: [8, 9], obj: '0:8:900' };
    const early = run([madeSocket, atStart(43), seen(43), write(43, 9, '0:8:900', 10), pipe]);
    expect(early.stats).toMatchObject({ healed: 0, gone: 0 });
    // two lookups a second: the third unknown descriptor is left to the state, counted
    const many = run([madeSocket, atStart(44), seen(44), write(44, 5, '0:8:500', 10), write(44, 9, '0:8:901', 11), write(44, 6, '0:8:600', 12)], proc, 2);
    expect(many.reads).toBe(2);
    expect(many.stats).toMatchObject({ healed: 1, gone: 1, mismatched: 0, skipped: 1 });
  });

  it('a process first seen with no fork in view is read whole from /proc before its first record: command line and descriptors; once, until it exits', () => {
    const asked: number[] = [];
    const whole: ProcessReader = (b) => {
      asked.push(b.pid);
      if (b.pid !== 50) return undefined;
      return {
        events: [
          { ...b, kind: 'snapshot.process', ppid: 1, comm: 'py', argv: ['python3', '-c', 'x'], exe: '/usr/bin/python3' },
          { ...b, kind: 'snapshot.fd', fd: 5, obj: '0:8:500', target: 'socket:[500]', flags: 2, object_type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } },
        ],
        later: false,
      };
    };
    const forked: Event = { ...base(50, 2), kind: 'process.fork', child_tid: 51, thread: false, clone_flags: 17 };
    const { out, stats, reads, state } = run([seen(50), write(50, 5, '0:8:500', 3), { ...seen(50), tid: 52 }, forked, seen(51), seen(60)], proc, 200, whole);
    // read once for 50 (not again for its thread, not for its child forked in view); 60 is gone
    expect(asked).toEqual([50, 60]);
    expect(stats).toMatchObject({ processes: 1, processesGone: 1, processesExeced: 0 });
    expect(out.slice(0, 4).map((e) => e.kind)).toEqual(['snapshot.process', 'snapshot.fd', 'process.seen', 'io']);
    // its descriptor is known from the snapshot: no lookup of its own; the send resolves to the connection
    expect(reads).toBe(0);
    expect((out[3] as EventOf<'io'>).res?.fd).toMatchObject({ family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } });
    expect(state.procs.lineage(50)?.argv).toEqual(['python3', '-c', 'x']);
  });

  it('a process /proc shows under another name than its record has exec\'d since: its descriptors are taken, not the later program', () => {
    // the record says `py`; by the time /proc is read it runs /usr/bin/env (a shebang on its way to another program)
    const whole: ProcessReader = (b) => ({
      events: [
        { ...b, kind: 'snapshot.process', ppid: 1, comm: 'env', argv: ['/usr/bin/env', 'bash', 'shim'], exe: '/usr/bin/env' },
        { ...b, kind: 'snapshot.fd', fd: 5, obj: '0:8:500', target: 'socket:[500]', flags: 2, object_type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } },
      ],
      later: false,
    });
    const { out, stats, state } = run([seen(70), write(70, 5, '0:8:500', 3)], proc, 200, whole);
    expect(stats).toMatchObject({ processes: 1, processesExeced: 1 });
    expect(out.map((e) => e.kind)).toEqual(['snapshot.fd', 'process.seen', 'io']);
    expect((out[2] as EventOf<'io'>).res?.fd).toMatchObject({ family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } });
    // the process is named as its record names it, with no executable from the future
    expect(out[2]!.proc).toMatchObject({ comm: 'py' });
    expect(out[2]!.proc?.exe).toBeUndefined();
    expect(state.procs.get(70)?.exe).toBeUndefined();
  });
  it('a process the reader finds running a later program under the same name (bash exec bash) gives its descriptors, not that program', () => {
    const asked: (number | undefined)[] = [];
    const whole: ProcessReader = (b, argStart) => {
      asked.push(argStart);
      return {
        events: [
          { ...b, kind: 'snapshot.process', ppid: 1, comm: 'py', argv: ['py', 'later.py'], exe: '/usr/bin/py' },
          { ...b, kind: 'snapshot.fd', fd: 5, obj: '0:8:500', target: 'socket:[500]', flags: 2, object_type: 'socket', family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } },
        ],
        later: true,
      };
    };
    const { out, stats, state } = run([{ ...seen(71), arg_start: 0x7ffd0000 }, write(71, 5, '0:8:500', 3)], proc, 200, whole);
    // the reader was told which program the record saw
    expect(asked).toEqual([0x7ffd0000]);
    expect(stats).toMatchObject({ processes: 1, processesExeced: 1 });
    expect(out.map((e) => e.kind)).toEqual(['snapshot.fd', 'process.seen', 'io']);
    expect((out[2] as EventOf<'io'>).res?.fd).toMatchObject({ family: 'inet', peer: { addr: '127.0.0.2', port: 9000 } });
    expect(state.procs.get(71)?.argv).toBeUndefined();
    expect(state.procs.get(71)?.exe).toBeUndefined();
  });

  it('with the real /proc: a process that exec\'d a same-named program after its record is not described by that program', async () => {
    // bash, then (on a line from us) exec bash again: the same comm, another program
    const child = spawn('/bin/bash', ['-c', 'read line; exec /bin/bash -c "read line; true"'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      const pid = child.pid!;
      await waitFor(() => readFileSync(`/proc/${pid}/comm`, 'utf8') === 'bash\n');
      const argStartOf = (): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[48 - 3]);
      const first = argStartOf();
      const reader = new ProcFdReader();
      const record = (argStart: number): Event => ({ ts: 1, cgroup: 7, pid, tid: pid, kind: 'process.seen', ppid: process.pid, comm: 'bash', arg_start: argStart });
      const readWith = (argStart: number) => run([record(argStart)], proc, 200, (b, a) => reader.process(b, a));
      // still the program the record saw: described whole
      const same = readWith(first);
      expect(same.stats).toMatchObject({ processes: 1, processesExeced: 0 });
      expect(same.state.procs.get(pid)?.argv).toEqual(['/bin/bash', '-c', 'read line; exec /bin/bash -c "read line; true"']);
      child.stdin.write('go\n');
      await waitFor(() => argStartOf() !== first);
      // it has exec'd since (bash again, the same name): its descriptors are taken, its program is not
      const later = readWith(first);
      expect(later.stats).toMatchObject({ processes: 1, processesExeced: 1 });
      expect(later.out.filter((e) => e.kind === 'snapshot.process')).toEqual([]);
      expect(later.out.at(-1)?.kind).toBe('process.seen');
      // (its stdin: node's end of a unix socketpair)
      expect(later.out.find((e) => e.kind === 'snapshot.fd' && e.fd === 0)).toMatchObject({ object_type: 'socket', family: 'unix' });
      expect(later.state.procs.get(pid)?.argv).toBeUndefined();
      expect(later.state.procs.get(pid)?.comm).toBe('bash');
    } finally {
      child.kill();
    }
  });
});
