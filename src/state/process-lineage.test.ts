import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event, EventOf } from '../schema/event.js';
import { ev } from '../testing/events.js';
import { MAX_LINEAGE, type Lineage } from './process-table.js';
import { SystemState } from './system-state.js';

/** Who started a process, as findings name it (Lineage in process-table.ts). */
const exec = (pid: number, ppid: number, argv: string[], truncated = false): EventOf<'process.exec'> => ({
  ...ev.exec(pid, `/usr/bin/${argv[0]}`),
  argv,
  argv_truncated: truncated,
  ppid,
});
const snapshot = (pid: number, ppid: number, comm: string, argv: string[]): EventOf<'snapshot.process'> => ({
  ts: 1, cgroup: 1, pid, tid: pid, kind: 'snapshot.process', ppid, comm, argv, exe: `/usr/bin/${comm}`,
});

/** [pid, argv joined] from the process up. */
const chain = (l: Lineage | undefined): [number, string][] => {
  const out: [number, string][] = [];
  for (let x = l; x !== undefined; x = x.parent) out.push([x.pid, (x.argv ?? []).join(' ')]);
  return out;
};

function run(events: Event[]): SystemState {
  const st = new SystemState();
  for (const e of events) st.apply(e);
  return st;
}

describe('process lineage', () => {
  it('names the command line and every ancestor as it was when it forked, also after the ancestor exec’d or exited', () => {
    const st = run([
      ev.seen(10, 1, 'agent'),
      exec(10, 1, ['agent', '--task', 'sbx']),
      ev.fork(10, 11),
      exec(11, 10, ['bash', '-c', 'curl -T x http://h/']),
      ev.fork(11, 12),
      exec(12, 11, ['curl', '-T', 'x', 'http://h/']),
      // the shell moves on and exits; the agent runs something else
      exec(11, 10, ['sleep', '1']),
      ev.exit(11),
      exec(10, 1, ['agent', '--restarted']),
    ]);
    expect(chain(st.procs.lineage(12))).toEqual([
      [12, 'curl -T x http://h/'],
      [11, 'bash -c curl -T x http://h/'],
      [10, 'agent --task sbx'],
    ]);
    // the exited shell is still known by pid, as it was when it exited
    expect(chain(st.procs.lineage(11))).toEqual([[11, 'sleep 1'], [10, 'agent --task sbx']]);
    expect(st.procs.lineage(10)!.argv).toEqual(['agent', '--restarted']);
    expect(st.procs.lineage(99)).toBeUndefined();
  });

  it('a forked child that has not exec’d names its parent’s command line; a cut command line says so', () => {
    const st = run([ev.seen(20, 1, 'sh'), exec(20, 1, ['sh', 'long'], true), ev.fork(20, 21)]);
    expect(st.procs.lineage(21)).toMatchObject({ pid: 21, argv: ['sh', 'long'], argvTruncated: true, parent: { pid: 20 } });
  });

  it('processes found running at start (/proc, in any order) find their parents by ppid', () => {
    // vim's parent bash is known before bash's parent sshd
    const st = run([snapshot(31, 30, 'bash', ['bash']), snapshot(32, 31, 'vim', ['vim', 'notes']), snapshot(30, 1, 'sshd', ['sshd: root'])]);
    expect(chain(st.procs.lineage(32))).toEqual([[32, 'vim notes'], [31, 'bash'], [30, 'sshd: root']]);
  });

  it(`holds at most ${MAX_LINEAGE} processes, however deep the tree (daemons that fork and exit, generation after generation)`, () => {
    const events: Event[] = [ev.seen(100, 1, 'gen')];
    for (let g = 0; g < 50; g++) events.push(ev.fork(100 + g, 101 + g), exec(101 + g, 100 + g, ['gen', String(g)]), ev.exit(100 + g));
    const l = run(events).procs.lineage(150)!;
    expect(l.length).toBe(MAX_LINEAGE);
    expect(chain(l).map(([pid]) => pid)).toEqual(Array.from({ length: MAX_LINEAGE }, (_, i) => 150 - i));
  });

  it('a ppid cycle in a crafted trace ends (no stack overflow), within the bound', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(5), fc.nat(5)), { minLength: 1, maxLength: 12 }), (procs) => {
        const st = run(procs.map(([pid, ppid]) => snapshot(40 + pid, 40 + ppid, 'p', ['p'])));
        for (const [pid] of procs) {
          const l = st.procs.lineage(40 + pid)!;
          expect(l.length).toBeLessThanOrEqual(MAX_LINEAGE);
          expect(chain(l).length).toBe(l.length);
        }
      }),
    );
    const two = run([snapshot(41, 42, 'a', ['a']), snapshot(42, 41, 'b', ['b'])]);
    expect(chain(two.procs.lineage(41)).map(([pid]) => pid)).toEqual([41, 42, 41, 42, 41, 42, 41, 42]);
  });

  it('agrees with a reference model on random fork/exec/exit sequences', () => {
    type Op = { op: 'fork' | 'exec' | 'exit'; p: number };
    const opArb = fc.record({ op: fc.constantFrom('fork' as const, 'exec' as const, 'exit' as const), p: fc.nat(7) });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops: Op[]) => {
        // reference: per live pid its argv and the chain of [pid, argv] above it as it was at fork; exited pids remembered
        const ref = new Map<number, { argv: string; up: [number, string][] }>([[1000, { argv: 'init', up: [] }]]);
        const gone = new Map<number, [number, string][]>();
        const events: Event[] = [ev.seen(1000, 1, 'init'), exec(1000, 1, ['init'])];
        let next = 1001;
        let n = 0;
        for (const { op, p } of ops) {
          const pids = [...ref.keys()];
          if (pids.length === 0) break;
          const pid = pids[p % pids.length]!;
          const me = ref.get(pid)!;
          if (op === 'fork') {
            const child = next++;
            ref.set(child, { argv: me.argv, up: [[pid, me.argv], ...me.up].slice(0, MAX_LINEAGE - 1) });
            events.push(ev.fork(pid, child));
          } else if (op === 'exec') {
            me.argv = `cmd ${n++}`;
            events.push(exec(pid, 1, me.argv.split(' ')));
          } else {
            gone.set(pid, [[pid, me.argv], ...me.up]);
            ref.delete(pid);
            events.push(ev.exit(pid));
          }
        }
        const st = run(events);
        for (const [pid, r] of ref) expect(chain(st.procs.lineage(pid))).toEqual([[pid, r.argv], ...r.up]);
        for (const [pid, c] of gone) expect(chain(st.procs.lineage(pid))).toEqual(c);
      }),
    );
  });
});
