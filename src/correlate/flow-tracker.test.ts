import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event } from '../schema/event.js';
import { SystemState } from '../state/system-state.js';
import { chainRulesFile, loadChainRules } from '../rules/chain-rules.js';
import type { Finding } from '../schema/finding.js';
import { FindingBuilder } from './finding-builder.js';
import { Correlator } from './correlator.js';
import { SequenceMatcher } from './sequence-matcher.js';
import { FlowTracker } from './flow-tracker.js';
import { TestWorld } from '../testing/world.js';

const classify = (p: string): string[] => (p === '/etc/shadow' || p.endsWith('/.ssh/id_rsa') ? ['secret'] : []);
class World extends TestWorld {
  constructor() {
    super(new Correlator(new FlowTracker(classify), new SequenceMatcher(loadChainRules(chainRulesFile()).rules), new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null })));
  }
}

/** A world whose flow tracker knows, as the pipeline's does, which task each live process is in. */
class WatchedWorld extends TestWorld {
  constructor() {
    let state: SystemState | undefined;
    super(
      new Correlator(
        new FlowTracker(classify, undefined, undefined, (pid) => state!.taskOfPid(pid)),
        new SequenceMatcher(loadChainRules(chainRulesFile()).rules),
        new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null }),
      ),
    );
    state = this.st;
  }
}


describe('flow tracker', () => {
  it('a secret written into the memory of a process outside the task has left it (process_vm_writev, ptrace pokes, /proc/PID/mem); into one of its own processes it has not', () => {
    const w = new WatchedWorld();
    w.proc('t', 10, 'agent');
    w.open('t', 10, 3, '/etc/shadow');
    w.io('t', 10, 'in', 3, 631);
    // its own child: the child carries the data, nothing has left
    w.proc('t', 11, 'helper');
    w.feed({ ...w.b('t', 10), kind: 'process.vm', syscall: 'process_vm_writev', dir: 'out', target: 11, ret: 631 });
    expect(w.out).toEqual([]);
    // a process the watch does not know (outside it), then one of another task
    w.feed({ ...w.b('t', 10), kind: 'process.vm', syscall: 'process_vm_writev', dir: 'out', target: 4242, ret: 631 });
    w.proc('other', 30, 'neighbour');
    w.feed({ ...w.b('t', 10), kind: 'process.vm', syscall: 'ptrace.pokedata', dir: 'out', target: 30, ret: 8 });
    w.open('t', 10, 4, '/proc/4343/mem', undefined, 2);
    w.io('t', 10, 'out', 4, 64);
    expect(w.out.map((f) => [f.rule, f.sink.path, f.chain.at(-1)!.syscall])).toEqual([
      ['exfil.read-then-transmit', 'memory of pid 4242, outside the watch', 'process_vm_writev'],
      ['exfil.read-then-transmit', 'memory of pid 30, task other', 'ptrace.pokedata'],
      ['exfil.read-then-transmit', 'memory of pid 4343, outside the watch', 'write'],
    ]);
    expect(w.out[0]!.summary).toContain('to memory of pid 4242, outside the watch');
  });

  it('one process: read a secret, send it', () => {
    const w = new World();
    w.proc('t', 10, 'curl');
    w.open('t', 10, 3, '/etc/shadow');
    w.io('t', 10, 'in', 3, 631);
    w.socket('t', 10, 4);
    w.io('t', 10, 'out', 4, 631);
    w.io('t', 10, 'out', 4, 200);
    expect(w.out).toHaveLength(1);
    const f = w.out[0]!;
    expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', task: 't', source: { path: '/etc/shadow', data_class: 'secret' }, sink: { address: '10.0.0.9', port: 443 } });
    expect(f.chain.map((h) => h.syscall)).toEqual(['read', 'write']);
    // later sends of the same chain update the one finding
    const upd = w.correlator.findings.flush();
    expect(upd).toHaveLength(1);
    expect(upd[0]!.id).toBe(f.id);
    expect(upd[0]!.sends).toBe(2);
    expect(upd[0]!.bytes_sent).toBe(831);
  });

  it("another process' memory: reading /proc/PID/mem of a process that read a secret, then sending, is a chain through both", () => {
    const w = new World();
    w.proc('t', 20, 'server');
    w.open('t', 20, 3, '/etc/shadow');
    w.io('t', 20, 'in', 3, 631);
    w.proc('t', 21, 'agent');
    // a process that holds nothing: reading its memory yields nothing
    w.proc('t', 22, 'idle');
    w.open('t', 21, 4, '/proc/22/mem');
    w.io('t', 21, 'in', 4, 4096);
    w.socket('t', 21, 5);
    w.io('t', 21, 'out', 5, 100);
    expect(w.out).toEqual([]);
    w.open('t', 21, 6, '/proc/20/task/20/mem');
    w.io('t', 21, 'in', 6, 4096);
    w.io('t', 21, 'out', 5, 631);
    expect(w.out).toHaveLength(1);
    expect(w.out[0]).toMatchObject({ rule: 'exfil.read-then-transmit', process: { pid: 21 }, source: { path: '/etc/shadow' } });
    expect(w.out[0]!.chain.map((h) => [h.pid, h.object])).toEqual([
      [20, '/etc/shadow'],
      [21, '/proc/20/task/20/mem'],
      [21, 'socket 10.0.0.9:443'],
    ]);
    // writing the secret into another process' memory makes that process hold it
    w.open('t', 21, 7, '/proc/22/mem');
    w.io('t', 21, 'out', 7, 631);
    w.socket('t', 22, 8, '10.0.0.7', 80);
    w.io('t', 22, 'out', 8, 631);
    expect(w.out.map((f) => f.process.pid)).toEqual([21, 22]);
  });

  it('a pipeline: cat secret | gzip | nc (three processes, two pipes)', () => {
    const w = new World();
    w.proc('t', 1, 'sh');
    w.pipe('t', 1, 3, 4);
    w.pipe('t', 1, 5, 6);
    for (const c of [11, 12, 13]) w.fork('t', 1, c);
    w.open('t', 11, 7, '/home/u/.ssh/id_rsa');
    w.io('t', 11, 'in', 7);
    w.io('t', 11, 'out', 4); // cat → pipe 1
    w.io('t', 12, 'in', 3); // gzip ← pipe 1
    w.io('t', 12, 'out', 6); // gzip → pipe 2
    w.io('t', 13, 'in', 5); // nc ← pipe 2
    w.socket('t', 13, 8, '127.0.0.2', 9000);
    w.io('t', 13, 'out', 8);
    expect(w.out).toHaveLength(1);
    expect(new Set(w.out[0]!.chain.map((h) => h.pid))).toEqual(new Set([11, 12, 13]));
    expect(w.out[0]!.summary).toContain('through 3 processes');
  });

  it('the wake-up race: a blocked reader stamped before the write that woke it still takes the mark; a read long before does not', () => {
    const run = (gapNs: number): Finding[] => {
      const w = new World();
      w.proc('t', 1, 'sh');
      w.pipe('t', 1, 3, 4);
      for (const c of [11, 12]) w.fork('t', 1, c);
      w.open('t', 11, 7, '/etc/shadow');
      w.io('t', 11, 'in', 7);
      w.io('t', 12, 'in', 3); // the reader leaves read(2) first…
      w.ts += gapNs;
      w.io('t', 11, 'out', 4); // …then the writer leaves write(2)
      w.socket('t', 12, 8, '127.0.0.2', 9000);
      w.io('t', 12, 'out', 8);
      return w.out;
    };
    const raced = run(20_000);
    expect(raced).toHaveLength(1);
    expect(new Set(raced[0]!.chain.map((h) => h.pid))).toEqual(new Set([11, 12]));
    expect(run(2_000_000_000)).toEqual([]);
  });

  it('a run summed before a read but arriving after it carries nothing read later: a log written, then a secret read; the log picked up and sent is no chain', () => {
    const w = new World();
    w.proc('t', 30, 'app');
    w.proc('t', 31, 'shipper');
    const log = w.open('t', 30, 4, '/tmp/app.log');
    w.io('t', 30, 'out', 4); // the first write of the run
    const runFirst = w.ts;
    w.ts += 1000;
    const runLast = w.ts++;
    w.open('t', 30, 3, '/etc/shadow');
    w.io('t', 30, 'in', 3);
    // the run's summed rest (its calls all before the read), printed by the probe at the process' exit
    w.feed({ ...w.b('t', 30), kind: 'io', dir: 'out', syscall: 'write', fd: 4, bytes: 900, calls: 9, ts_first: runFirst, ts: runLast, obj: null });
    w.open('t', 31, 3, '/tmp/app.log', log);
    w.io('t', 31, 'in', 3);
    w.socket('t', 31, 5);
    w.io('t', 31, 'out', 5);
    expect(w.out).toEqual([]);
    // a run whose last call came after the read may hold it: the same, with the run going on past the read, is a chain
    const v = new World();
    v.proc('t', 30, 'app');
    v.proc('t', 31, 'shipper');
    const log2 = v.open('t', 30, 4, '/tmp/app.log');
    v.io('t', 30, 'out', 4);
    const first2 = v.ts;
    v.open('t', 30, 3, '/etc/shadow');
    v.io('t', 30, 'in', 3);
    v.feed({ ...v.b('t', 30), kind: 'io', dir: 'out', syscall: 'write', fd: 4, bytes: 900, calls: 9, ts_first: first2, obj: null });
    v.open('t', 31, 3, '/tmp/app.log', log2);
    v.io('t', 31, 'in', 3);
    v.socket('t', 31, 5);
    v.io('t', 31, 'out', 5);
    expect(v.out.map((f) => f.chain.map((h) => `${h.pid} ${h.syscall}`))).toEqual([['30 read', '30 write', '31 read', '31 write']]);
  });

  it('a send run that ended before the secret was read is no transmit of it, even when its sum arrives later', () => {
    const w = new World();
    w.proc('t', 40, 'client');
    w.socket('t', 40, 4);
    w.io('t', 40, 'out', 4);
    const first = w.ts;
    w.ts += 1000;
    const last = w.ts++;
    w.open('t', 40, 3, '/etc/shadow');
    w.io('t', 40, 'in', 3);
    w.feed({ ...w.b('t', 40), kind: 'io', dir: 'out', syscall: 'write', fd: 4, bytes: 900, calls: 9, ts_first: first, ts: last, obj: null });
    expect(w.out).toEqual([]);
    // the next send after the read is one
    w.io('t', 40, 'out', 4);
    expect(w.out.map((f) => f.rule)).toEqual(['exfil.read-then-transmit']);
  });

  it('staging through a file, picked up by another process later', () => {
    const w = new World();
    w.proc('t', 20, 'cp');
    w.proc('t', 21, 'curl');
    w.open('t', 20, 3, '/etc/shadow');
    w.io('t', 20, 'in', 3);
    const staged = w.open('t', 20, 4, '/tmp/x');
    w.io('t', 20, 'out', 4);
    w.ts += 60e9; // a minute later
    w.open('t', 21, 3, '/tmp/x', staged);
    w.io('t', 21, 'in', 3);
    w.socket('t', 21, 4);
    w.io('t', 21, 'out', 4);
    expect(w.out).toHaveLength(1);
    expect(w.out[0]!.rule).toBe('exfil.staged');
    expect(w.out[0]!.latency_ms).toBeGreaterThanOrEqual(60_000);
  });

  it('fork: the child of a carrier carries the data', () => {
    const w = new World();
    w.proc('t', 30);
    w.open('t', 30, 3, '/etc/shadow');
    w.io('t', 30, 'in', 3);
    w.fork('t', 30, 31);
    w.socket('t', 31, 5);
    w.io('t', 31, 'out', 5);
    expect(w.out).toHaveLength(1);
    expect(w.out[0]!.process.pid).toBe(31);
  });

  it('data leaves through packet sockets (raw frames) and vsock (a guest to its host) too; netlink stays on the machine', () => {
    for (const [family, fires] of [['packet', 1], ['vsock', 1], ['netlink', 0], ['unix', 0]] as const) {
      const w = new World();
      w.proc('t', 45);
      w.open('t', 45, 3, '/etc/shadow');
      w.io('t', 45, 'in', 3, 631);
      w.feed({ ...w.b('t', 45), kind: 'fd.socket', family, sock_type: 3, protocol: 0, ret: 4, obj: '0:9:4500' });
      if (family === 'vsock') w.feed({ ...w.b('t', 45), kind: 'net.addr', op: 'connect', fd: 4, ret: 0, obj: '0:9:4500', family, addr: 'cid:2', port: 1024, peer_obj: null });
      w.io('t', 45, 'out', 4, 631);
      expect(w.out, family).toHaveLength(fires);
      if (family === 'packet') expect(w.out[0]).toMatchObject({ sink: { family: 'packet' }, summary: expect.stringContaining('to a packet socket (raw frames), object 0:9:4500') });
      if (family === 'vsock') expect(w.out[0]).toMatchObject({ sink: { family: 'vsock', address: 'cid:2', port: 1024 } });
    }
  });

  it('default-deny on socket families: AF_XDP, bluetooth, a family the model does not name and a socket of unknown family carry data out; AF_ALG (kernel crypto) does not', () => {
    for (const [family, fires, text] of [
      ['xdp', 1, 'to an AF_XDP socket (raw frames), object 0:9:4600'],
      ['bluetooth', 1, 'to a bluetooth socket, object 0:9:4600'],
      ['other', 1, 'to a socket of a family chainwatch does not name, object 0:9:4600'],
      [undefined, 1, 'to a socket of unknown family, object 0:9:4600'],
      ['alg', 0, ''],
    ] as const) {
      const w = new World();
      w.proc('t', 46);
      w.open('t', 46, 3, '/etc/shadow');
      w.io('t', 46, 'in', 3, 631);
      // a socket of unknown family: one open before monitoring that no /proc/net table listed
      if (family === undefined) w.feed({ ...w.b('t', 46), kind: 'snapshot.fd', fd: 4, obj: '0:9:4600', target: 'socket:[4600]', flags: 2, object_type: 'socket' });
      else w.feed({ ...w.b('t', 46), kind: 'fd.socket', family, sock_type: 3, protocol: 0, ret: 4, obj: '0:9:4600' });
      w.io('t', 46, 'out', 4, 631);
      expect(w.out, String(family)).toHaveLength(fires);
      if (fires) expect(w.out[0]!.summary, String(family)).toContain(text);
    }
  });

  it('an inet socket passed in from outside the watch (SCM_RIGHTS; the probe reads its family) is one that may leave: the secret written to it is a finding; a unix one passed in is not', () => {
    for (const [family, fires] of [['inet', 1], ['unix', 0]] as const) {
      const w = new World();
      w.proc('t', 47);
      w.feed({ ...w.b('t', 47), kind: 'fd.rights', dir: 'recv', sock_fd: 5, index: 0, count: 1, fd: 6, obj: '0:9:4701', family });
      w.open('t', 47, 3, '/etc/shadow');
      w.io('t', 47, 'in', 3, 631);
      w.io('t', 47, 'out', 6, 631);
      expect(w.out, family).toHaveLength(fires);
      if (fires) expect(w.out[0]!.summary).toContain('to an unconnected inet socket, object 0:9:4701');
    }
  });

  it('sendfile from a secret into a socket, no process memory involved', () => {
    const w = new World();
    w.proc('t', 40);
    w.open('t', 40, 3, '/etc/shadow');
    w.socket('t', 40, 4);
    const b = w.b('t', 40);
    w.feed({ ...b, kind: 'io.xfer', syscall: 'sendfile', fd_in: 3, fd_out: 4, bytes: 631, calls: 1, ts_first: b.ts, obj_in: null, obj_out: null });
    expect(w.out).toHaveLength(1);
    expect(w.out[0]!.chain.map((h) => h.syscall)).toEqual(['sendfile', 'sendfile']);
  });

  it('must not fire: a non-sensitive file sent; a secret read and never sent; a download written to disk', () => {
    const w = new World();
    w.proc('t', 50);
    w.open('t', 50, 3, '/etc/hostname');
    w.io('t', 50, 'in', 3);
    w.socket('t', 50, 4);
    w.io('t', 50, 'out', 4);
    w.proc('t', 51);
    w.open('t', 51, 3, '/etc/shadow');
    w.io('t', 51, 'in', 3);
    w.close('t', 51, 3);
    w.proc('t', 52);
    w.socket('t', 52, 3);
    w.io('t', 52, 'in', 3);
    w.open('t', 52, 4, '/tmp/out');
    w.io('t', 52, 'out', 4);
    expect(w.out).toEqual([]);
  });

  it('property: a random interleaving of unrelated tasks never creates a chain across tasks', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.nat(5)), { minLength: 1, maxLength: 60 }), (steps) => {
        // task a reads the secret and writes it into its own file; task b reads its own file and sends: no shared object
        const w = new World();
        w.proc('a', 1);
        w.proc('b', 2);
        w.open('a', 1, 3, '/etc/shadow');
        w.open('a', 1, 4, '/tmp/a-file');
        w.open('b', 2, 3, '/tmp/b-file');
        w.socket('b', 2, 4);
        for (const [task, op] of steps) {
          if (task === 'a') w.io('a', 1, op % 2 === 0 ? 'in' : 'out', op % 2 === 0 ? 3 : 4);
          else w.io('b', 2, op % 2 === 0 ? 'in' : 'out', op % 2 === 0 ? 3 : 4);
        }
        expect(w.out).toEqual([]);
      }),
    );
  });

  it('a secret staged by one task in a shared file and sent by another is one chain across both', () => {
    const w = new World();
    w.proc('a', 1, 'cp');
    w.proc('b', 2, 'curl');
    w.open('a', 1, 3, '/etc/shadow');
    const shared = w.open('a', 1, 4, '/shared/x');
    w.io('a', 1, 'in', 3);
    w.io('a', 1, 'out', 4);
    w.open('b', 2, 3, '/shared/x', shared);
    w.io('b', 2, 'in', 3);
    w.socket('b', 2, 4);
    w.io('b', 2, 'out', 4);
    expect(w.out).toHaveLength(1);
    expect(w.out[0]!.task).toBe('b');
    expect(w.out[0]!.chain.map((h) => h.pid)).toEqual([1, 1, 2, 2]);
  });

  it('updated counters are reported as snapshots when the sender exits, after a quiet spell, and periodically while sending', () => {
    const w = new World();
    w.proc('t', 10, 'curl');
    w.open('t', 10, 3, '/etc/shadow');
    w.io('t', 10, 'in', 3, 631);
    w.socket('t', 10, 4);
    w.io('t', 10, 'out', 4, 600);
    w.io('t', 10, 'out', 4, 31);
    w.io('t', 10, 'out', 4, 100);
    expect(w.out).toHaveLength(1);
    // the first report is a snapshot: later sends do not change it
    expect(w.out[0]).toMatchObject({ sends: 1, bytes_sent: 600 });
    w.exit('t', 10);
    expect(w.out).toHaveLength(2);
    expect(w.out[1]).toMatchObject({ id: w.out[0]!.id, sends: 3, bytes_sent: 731 });
    expect(w.out[0]).toMatchObject({ sends: 1, bytes_sent: 600 });
    expect(w.correlator.findings.flush()).toEqual([]);

    // a sender that stays: its counters are reported once the chain is quiet for 5 s (kernel time), by the next event or the rule clock
    const q = new World();
    q.proc('t', 20, 'agent');
    q.open('t', 20, 3, '/etc/shadow');
    q.io('t', 20, 'in', 3);
    q.socket('t', 20, 4);
    q.io('t', 20, 'out', 4, 10);
    q.io('t', 20, 'out', 4, 10);
    const lastSend = q.ts - 1;
    expect(q.correlator.tick(lastSend + 4e9)).toEqual([]);
    const quiet = q.correlator.tick(lastSend + 5e9);
    expect(quiet).toHaveLength(1);
    expect(quiet[0]).toMatchObject({ sends: 2, bytes_sent: 20 });
    expect(q.correlator.tick(lastSend + 10e9)).toEqual([]);

    // one that keeps sending: at most one report a minute while it does
    const p = new World();
    p.proc('t', 30, 'agent');
    p.open('t', 30, 3, '/etc/shadow');
    p.io('t', 30, 'in', 3);
    p.socket('t', 30, 4);
    for (let i = 0; i < 150; i++) {
      p.io('t', 30, 'out', 4, 1);
      p.ts += 1e9;
    }
    expect(p.out.map((f) => f.sends)).toEqual([1, 61, 121]);
    expect(p.correlator.findings.stats()).toEqual({ open: 1, updates: 2, closed: 0 });
  });

  it('open chains are bounded: the least recently updated is closed, its unreported counters emitted first', () => {
    const w = new TestWorld(new Correlator(new FlowTracker(classify), new SequenceMatcher(loadChainRules(chainRulesFile()).rules), new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null }, { maxOpen: 2 })));
    w.proc('t', 10, 'curl');
    w.open('t', 10, 3, '/etc/shadow');
    w.io('t', 10, 'in', 3);
    for (const [fd, port] of [[4, 1], [5, 2]] as const) {
      w.socket('t', 10, fd, '10.0.0.9', port);
      w.io('t', 10, 'out', fd, 10);
    }
    w.io('t', 10, 'out', 4, 5); // the first chain again: now the most recently updated, with counters not yet reported
    w.io('t', 10, 'out', 5, 7);
    w.socket('t', 10, 6, '10.0.0.9', 3);
    w.io('t', 10, 'out', 6, 10);
    // the third chain closes the least recently updated (port 1), whose last send had not been reported
    expect(w.out.map((f) => [f.sink.port, f.sends])).toEqual([[1, 1], [2, 1], [3, 1], [1, 2]]);
    expect(w.correlator.findings.stats()).toEqual({ open: 2, updates: 1, closed: 1 });
    // the chain still open reports its last send at the end
    expect(w.correlator.findings.flush().map((f) => [f.sink.port, f.sends])).toEqual([[2, 2]]);
  });

  it('marks are bounded: marks of closed pipes go dormant and are dropped first; a live mark dropped at the bound is counted', () => {
    const w = new TestWorld(new Correlator(new FlowTracker(classify, 3), new SequenceMatcher(loadChainRules(chainRulesFile()).rules), new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null })));
    w.proc('t', 1, 'sh');
    w.open('t', 1, 3, '/etc/shadow');
    w.io('t', 1, 'in', 3);
    // the carrier writes into two pipes; the first is then closed at both ends
    w.pipe('t', 1, 10, 11);
    w.io('t', 1, 'out', 11);
    w.pipe('t', 1, 12, 13);
    w.io('t', 1, 'out', 13);
    w.close('t', 1, 10);
    expect(w.correlator.flow.stats()).toMatchObject({ marks: 2, dormantMarks: 0 });
    w.close('t', 1, 11);
    expect(w.correlator.flow.stats()).toMatchObject({ marks: 2, dormantMarks: 1 });
    // and into two files: at the bound (3) the dormant pipe mark goes first, then the oldest live one, counted
    w.open('t', 1, 20, '/tmp/a', '8:1:7001');
    w.io('t', 1, 'out', 20);
    w.open('t', 1, 21, '/tmp/b', '8:1:7002');
    w.io('t', 1, 'out', 21);
    expect(w.correlator.flow.stats()).toMatchObject({ marks: 3, dormantMarks: 0, dormantDropped: 1, marksEvicted: 0 });
    w.open('t', 1, 22, '/tmp/c', '8:1:7003');
    w.io('t', 1, 'out', 22);
    expect(w.correlator.flow.stats()).toMatchObject({ marks: 3, dormantDropped: 1, marksEvicted: 1 });
    // the second pipe's mark (still open, the oldest live one) was the one evicted; the files' marks still carry the secret
    w.fork('t', 1, 2);
    w.open('t', 2, 5, '/tmp/b', '8:1:7002');
    w.io('t', 2, 'in', 5);
    w.socket('t', 2, 6);
    w.io('t', 2, 'out', 6);
    expect(w.out.at(-1)).toMatchObject({ rule: 'exfil.read-then-transmit', source: { path: '/etc/shadow' } });
  });

  it('property: whenever the rule clock ticks, the same findings are reported (what a replay, which has no clock, reports)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3), fc.nat(8_000), fc.boolean()), { maxLength: 40 }), (steps) => {
        const run = (ticking: boolean): Finding[] => {
          const w = new World();
          w.proc('t', 10, 'agent');
          w.open('t', 10, 3, '/etc/shadow');
          w.io('t', 10, 'in', 3);
          w.socket('t', 10, 4);
          for (const [what, gapMs, tick] of steps) {
            w.ts += gapMs * 1e6;
            // the live rule clock: time up to which every event has been observed
            if (ticking && tick) w.out.push(...w.correlator.tick(w.ts - 1));
            if (what === 0) w.io('t', 10, 'in', 3);
            else w.io('t', 10, 'out', 4, what);
          }
          w.out.push(...w.correlator.flush());
          return w.out;
        };
        expect(run(true)).toEqual(run(false));
      }),
    );
  });

  it('property: the findings do not depend on how the events are batched', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(3), { maxLength: 30 }), (cuts) => {
        // same scenario fed whole vs. replayed in chunks through a fresh tracker: identical findings
        const w1 = new World();
        const script = (w: World) => {
          w.proc('t', 10);
          w.open('t', 10, 3, '/etc/shadow');
          for (const c of cuts) w.io('t', 10, c % 2 ? 'out' : 'in', 3);
          w.io('t', 10, 'in', 3);
          w.socket('t', 10, 4);
          w.io('t', 10, 'out', 4);
        };
        script(w1);
        const recorded: Event[] = [];
        const w2 = new World();
        w2.feed = (ev) => recorded.push(ev);
        script(w2);
        const w3 = new World();
        const chunks: Event[][] = [];
        for (let i = 0; i < recorded.length; i += 1 + (cuts[i % Math.max(cuts.length, 1)] ?? 0)) chunks.push(recorded.slice(i, i + 1 + (cuts[i % Math.max(cuts.length, 1)] ?? 0)));
        for (const c of chunks) for (const ev of c) w3.feed(structuredClone(ev));
        expect(w3.out.map((f) => f.id)).toEqual(w1.out.map((f) => f.id));
        expect(w3.out).toHaveLength(1);
      }),
    );
  });
});

describe('flow tracker: shared memory', () => {
  const O_RDWR = 2;
  const send = (w: World, pid: number, fd: number): void => {
    w.socket('t', pid, fd);
    w.io('t', pid, 'out', fd, 631);
  };
  /**
   * `parent` maps `pages` of anonymous memory shared at 0x10000 and forks
   * `child`; after `between`, the parent reads the secret and the child
   * sends: the number of findings (1 when the memory still joins them).
   */
  const sharedThenSecret = (parent: number, child: number, pages: number, between: (w: World) => void): number => {
    const w = new World();
    w.proc('t', parent);
    w.map('t', parent, 0x10000, pages * 4096);
    w.fork('t', parent, child);
    between(w);
    w.open('t', parent, 3, '/etc/shadow');
    w.io('t', parent, 'in', 3, 631);
    send(w, child, 4);
    return w.out.length;
  };

  it('an anonymous shared mapping made before fork: what the parent reads later, the child takes and sends, with no syscall between them', () => {
    const w = new World();
    w.proc('t', 50, 'parent');
    w.map('t', 50, 0x10000, 4096);
    w.fork('t', 50, 51);
    w.open('t', 50, 3, '/etc/shadow');
    w.io('t', 50, 'in', 3, 631);
    send(w, 51, 4);
    expect(w.out).toHaveLength(1);
    expect(w.out[0]!.process.pid).toBe(51);
    expect(w.out[0]!.chain.map((h) => [h.pid, h.syscall])).toEqual([
      [50, 'read'],
      [50, 'mapped.write'],
      [51, 'mapped.read'],
      [51, 'write'],
    ]);
    expect(w.out[0]!.chain[1]!.object).toMatch(/^shm 0:0:\d+$/);
    expect(w.correlator.flow.stats().sharedMappings).toBe(2);
  });

  it('the link ends when munmap has taken all of the mapping (at once or piece by piece), with exec and with exit; a page left or a move (mremap) keeps it', () => {
    const run = (between: (w: World) => void): number => sharedThenSecret(50, 51, 2, between);
    expect(run(() => undefined)).toBe(1);
    expect(run((w) => w.unmap('t', 51, 0x10000, 8192))).toBe(0);
    expect(run((w) => w.unmap('t', 51, 0x8000, 0x20000))).toBe(0);
    expect(run((w) => w.unmap('t', 50, 0x10000, 8192))).toBe(0);
    expect(run((w) => w.exec('t', 51, ['sh']))).toBe(0);
    // the child's part of it gone but a page left
    expect(run((w) => w.unmap('t', 51, 0x10000, 4096))).toBe(1);
    // moved, then the old place unmapped: still shared at the new one
    expect(run((w) => (w.remap('t', 51, 0x10000, 8192, 0x40000, 8192), w.unmap('t', 51, 0x10000, 8192)))).toBe(1);
    expect(run((w) => (w.remap('t', 51, 0x10000, 8192, 0x40000, 8192), w.unmap('t', 51, 0x40000, 8192)))).toBe(0);
    // a copy (old length 0) is one more mapping: unmapping the original leaves the copy
    expect(run((w) => (w.remap('t', 51, 0x10000, 0, 0x40000, 8192), w.unmap('t', 51, 0x10000, 8192)))).toBe(1);
    // unmapped in two halves, in either order, or by lengths the kernel rounds up to whole pages: gone
    expect(run((w) => (w.unmap('t', 51, 0x10000, 4096), w.unmap('t', 51, 0x11000, 4096)))).toBe(0);
    expect(run((w) => (w.unmap('t', 51, 0x11000, 4096), w.unmap('t', 51, 0x10000, 4096)))).toBe(0);
    expect(run((w) => (w.unmap('t', 51, 0x10000, 100), w.unmap('t', 51, 0x11000, 1)))).toBe(0);
    // part of it moved away and unmapped there, the rest unmapped where it was: gone; the rest left: still shared
    expect(run((w) => (w.remap('t', 51, 0x11000, 4096, 0x40000, 4096), w.unmap('t', 51, 0x40000, 4096), w.unmap('t', 51, 0x10000, 4096)))).toBe(0);
    expect(run((w) => (w.remap('t', 51, 0x11000, 4096, 0x40000, 4096), w.unmap('t', 51, 0x40000, 4096)))).toBe(1);
  });

  it('a shared mapping made over another (MAP_FIXED) replaces it there: memory mapped over the shared pages is no longer shared', () => {
    const run = (between: (w: World) => void): number => sharedThenSecret(54, 55, 2, between);
    // the child maps a file of its own over both pages: what the parent writes no longer reaches it
    const own = (w: World, at: number, len: number): void => {
      const obj = w.open('t', 55, 7, '/tmp/own', undefined, 2);
      w.feed({ ...w.b('t', 55), kind: 'mem.map', addr: at, len, prot: 3, flags: 0x11, fd: 7, obj });
    };
    expect(run((w) => own(w, 0x10000, 2 * 4096))).toBe(0);
    // over one of the two pages only: the other is still shared
    expect(run((w) => own(w, 0x11000, 4096))).toBe(1);
  });

  it('munmap of the middle of a mapping leaves two, each still shared; the link ends with the last of them', () => {
    const run = (between: (w: World) => void): number => sharedThenSecret(52, 53, 3, between);
    const hole = (w: World): void => w.unmap('t', 53, 0x11000, 4096);
    expect(run(hole)).toBe(1);
    expect(run((w) => (hole(w), w.unmap('t', 53, 0x10000, 4096)))).toBe(1);
    expect(run((w) => (hole(w), w.unmap('t', 53, 0x12000, 4096)))).toBe(1);
    expect(run((w) => (hole(w), w.unmap('t', 53, 0x10000, 4096), w.unmap('t', 53, 0x12000, 4096)))).toBe(0);
    expect(run((w) => (hole(w), w.unmap('t', 53, 0x10000, 3 * 4096)))).toBe(0);
  });

  it("a socket's memory mapped writable (an AF_XDP or packet TX ring) sends what the process holds, with no write(2): mapped before or after the read, one finding per socket however many rings", () => {
    for (const order of ['map-then-read', 'read-then-map'] as const) {
      const w = new World();
      w.proc('t', 60, 'xsk');
      w.feed({ ...w.b('t', 60), kind: 'fd.socket', family: 'xdp', sock_type: 3, protocol: 0, ret: 4, obj: '0:9:6000' });
      w.open('t', 60, 3, '/etc/shadow');
      const rings = (): void => {
        w.map('t', 60, 0x7000_0000, 4096, 4, '0:9:6000'); // TX ring
        w.map('t', 60, 0x7000_2000, 4096, 4, '0:9:6000'); // completion ring
      };
      if (order === 'map-then-read') rings();
      w.io('t', 60, 'in', 3, 631);
      if (order === 'read-then-map') rings();
      expect(w.out, order).toHaveLength(1);
      const f = w.out[0]!;
      expect(f).toMatchObject({ rule: 'exfil.read-then-transmit', sink: { family: 'xdp' }, bytes_sent: 0, process: { pid: 60 } });
      expect(f.chain.map((h) => h.syscall)).toEqual(['read', 'mapped.send']);
      expect(f.summary).toContain("to an AF_XDP socket (raw frames), object 0:9:6000, through the socket's memory mapped into its own (no write(2): bytes not seen), ");
    }
  });

  it("a socket's memory mapped read-only (TCP zero-copy receive) sends nothing", () => {
    const w = new World();
    w.proc('t', 61);
    w.socket('t', 61, 4);
    w.open('t', 61, 3, '/etc/shadow');
    w.io('t', 61, 'in', 3, 631);
    w.map('t', 61, 0x7100_0000, 4096, 4, null, 1);
    expect(w.out).toEqual([]);
  });

  it('a carrier that maps a file shared and writable marks it (staging with no write(2)); read-only, it cannot', () => {
    for (const [flags, prot, fires] of [[O_RDWR, 3, 1], [O_RDWR, 1, 1], [0, 1, 0]] as const) {
      const w = new World();
      w.proc('t', 60, 'stager');
      w.open('t', 60, 3, '/etc/shadow');
      w.io('t', 60, 'in', 3, 631);
      const stage = w.open('t', 60, 4, '/tmp/stage', undefined, flags);
      w.map('t', 60, 0x10000, 4096, 4, stage, prot);
      w.close('t', 60, 4);
      w.exit('t', 60);
      w.proc('t', 61, 'curl');
      w.open('t', 61, 3, '/tmp/stage', stage);
      w.io('t', 61, 'in', 3, 4096);
      send(w, 61, 5);
      expect(w.out, `flags ${flags} prot ${prot}`).toHaveLength(fires);
      if (fires) expect(w.out[0]!.chain.map((h) => h.syscall)).toEqual(['read', 'mapped.write', 'read', 'write']);
    }
  });

  it('a process that maps a file shared takes what another process writes into it later (write(2)), with no read', () => {
    const w = new World();
    w.proc('t', 70, 'reader');
    const shared = w.open('t', 70, 3, '/dev/shm/buf', undefined, O_RDWR);
    w.map('t', 70, 0x10000, 4096, 3, shared);
    w.proc('t', 71, 'writer');
    w.open('t', 71, 3, '/etc/shadow');
    w.io('t', 71, 'in', 3, 631);
    w.open('t', 71, 4, '/dev/shm/buf', shared, O_RDWR);
    w.io('t', 71, 'out', 4, 631);
    send(w, 70, 5);
    expect(w.out).toHaveLength(1);
    expect(w.out[0]!.chain.map((h) => [h.pid, h.syscall])).toEqual([
      [71, 'read'],
      [71, 'write'],
      [70, 'mapped.read'],
      [70, 'write'],
    ]);
  });

  it('System V segments: one identity per IPC namespace and id, whoever attaches it and whenever; SHM_RDONLY cannot write; shmdt detaches', () => {
    const run = (o: { ns?: number; id?: number; writerReadOnly?: boolean; detach?: boolean } = {}): Finding[] => {
      const w = new World();
      w.proc('t', 90, 'writer');
      w.open('t', 90, 3, '/etc/shadow');
      w.io('t', 90, 'in', 3, 631);
      w.shmat('t', 90, 0x20000, 32769, undefined, o.writerReadOnly);
      if (o.detach) w.unmap('t', 90, 0x20000, 0);
      w.exit('t', 90);
      // attached after the writer is gone: the segment still holds the data
      w.proc('t', 91, 'reader');
      w.shmat('t', 91, 0x30000, o.id ?? 32769, o.ns, true);
      send(w, 91, 4);
      return w.out;
    };
    const f = run();
    expect(f).toHaveLength(1);
    expect(f[0]!.chain.map((h) => [h.pid, h.syscall])).toEqual([
      [90, 'read'],
      [90, 'mapped.write'],
      [91, 'mapped.read'],
      [91, 'write'],
    ]);
    expect(run({ id: 32770 })).toEqual([]);
    expect(run({ ns: 4026532000 })).toEqual([]);
    expect(run({ writerReadOnly: true })).toEqual([]);
    // detached after the data went in: it is still in the segment
    expect(run({ detach: true })).toHaveLength(1);
    // a reader that detaches before the data goes in takes nothing
    const w = new World();
    w.proc('t', 92, 'reader');
    w.shmat('t', 92, 0x30000, 7);
    w.unmap('t', 92, 0x30000, 0);
    w.proc('t', 93, 'writer');
    w.open('t', 93, 3, '/etc/shadow');
    w.io('t', 93, 'in', 3, 631);
    w.shmat('t', 93, 0x20000, 7);
    send(w, 92, 4);
    expect(w.out).toEqual([]);
    expect(w.correlator.flow.stats().sharedMappings).toBe(1);
  });

  it('a CLONE_VM child (vfork, posix_spawn) reads into its parent\'s memory: the parent holds it; a forked child (a copy) does not share back', () => {
    const run = (flags: number, between?: (w: World) => void): Finding[] => {
      const w = new World();
      w.proc('t', 100, 'spawner');
      w.fork('t', 100, 101, flags);
      between?.(w);
      w.open('t', 101, 3, '/etc/shadow');
      w.io('t', 101, 'in', 3, 631);
      w.exit('t', 101);
      send(w, 100, 4);
      return w.out;
    };
    const vfork = run(0x4111);
    expect(vfork).toHaveLength(1);
    expect(vfork[0]!.chain.map((h) => [h.pid, h.syscall, h.object])).toEqual([
      [101, 'read', '/etc/shadow'],
      [101, 'mapped.write', 'memory of pid 100'],
      [100, 'mapped.read', 'memory of pid 100'],
      [100, 'write', 'socket 10.0.0.9:443'],
    ]);
    expect(run(17)).toEqual([]);
    // after its exec the child has memory of its own; an munmap cannot cut the link
    expect(run(0x4111, (w) => w.exec('t', 101, ['cat']))).toEqual([]);
    expect(run(0x4111, (w) => w.unmap('t', 101, 0, 2 ** 47))).toHaveLength(1);
    // a plain fork of the CLONE_VM child has a copy, not the shared memory
    const w = new World();
    w.proc('t', 100);
    w.fork('t', 100, 101, 0x4111);
    w.fork('t', 101, 102);
    w.open('t', 102, 3, '/etc/shadow');
    w.io('t', 102, 'in', 3, 631);
    send(w, 100, 4);
    expect(w.out).toEqual([]);
    // one link per spawner, however many children it spawns
    for (let c = 200; c < 210; c++) {
      w.fork('t', 100, c, 0x4111);
      w.exec('t', c, ['true']);
    }
    expect(w.correlator.flow.stats().sharedMappings).toBe(2);
  });

  it('a process sharing memory with nothing sensitive in it sends freely', () => {
    const w = new World();
    w.proc('t', 80);
    w.map('t', 80, 0x10000, 4096);
    w.fork('t', 80, 81);
    w.open('t', 80, 3, '/etc/hostname');
    w.io('t', 80, 'in', 3);
    send(w, 81, 4);
    expect(w.out).toEqual([]);
  });

  it('property: links are counted exactly (a reference model of who maps which pages) and none outlives its process', () => {
    /** [from, to) out of range l of ls: gone, shrunk, or split in two (the tail appended). */
    const cutOne = (ls: [number, number][], l: [number, number], from: number, to: number): void => {
      if (l[1] <= from || l[0] >= to) return;
      if (l[0] >= from && l[1] <= to) ls.splice(ls.indexOf(l), 1);
      else if (l[0] < from && l[1] > to) {
        ls.push([to, l[1]]);
        l[1] = from;
      } else if (l[0] < from) l[1] = from;
      else l[0] = to;
    };
    const cut = (ls: [number, number][], from: number, to: number): void => {
      for (const l of [...ls]) cutOne(ls, l, from, to);
    };
    type Op = { op: 'map' | 'unmap' | 'fork' | 'exec' | 'exit' | 'remap'; p: number; slot: number; n: number };
    const op = fc.record({ op: fc.constantFrom<Op['op']>('map', 'map', 'unmap', 'fork', 'exec', 'exit', 'remap'), p: fc.nat(3), slot: fc.nat(3), n: fc.integer({ min: 1, max: 3 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const w = new World();
        const base = 100;
        // the model: pid → [start, end) of each link
        const model = new Map<number, [number, number][]>();
        const live = new Set<number>();
        let next = base + 10;
        const pids: number[] = [];
        for (let i = 0; i < 4; i++) {
          w.proc('t', base + i);
          live.add(base + i);
          pids.push(base + i);
        }
        for (const o of ops) {
          const pid = pids[o.p % pids.length]!;
          if (!live.has(pid)) continue;
          const at = 0x10000 * (o.slot + 1);
          const ls = model.get(pid) ?? [];
          switch (o.op) {
            case 'map':
              // a new mapping replaces what was mapped there
              w.map('t', pid, at, 0x1000 * o.n);
              cut(ls, at, at + 0x1000 * o.n);
              ls.push([at, at + 0x1000 * o.n]);
              break;
            case 'unmap': {
              w.unmap('t', pid, at + 0x1000 * o.slot, 0x1000 * o.n);
              cut(ls, at + 0x1000 * o.slot, at + 0x1000 * (o.slot + o.n));
              break;
            }
            case 'remap': {
              // the model: the first mapping holding the address loses the moved pages, which are a mapping at the new place
              const from = at + 0x1000 * (o.n - 1);
              const l = ls.find((x) => x[0] <= from && from < x[1]);
              w.remap('t', pid, from, 0x1000, 0x100000 + at, 0x2000);
              if (l !== undefined) {
                cutOne(ls, l, from, from + 0x1000);
                ls.push([0x100000 + at, 0x100000 + at + 0x2000]);
              }
              break;
            }
            case 'fork': {
              const child = next++;
              w.fork('t', pid, child);
              model.set(child, ls.map(([a, b]) => [a, b]));
              live.add(child);
              pids.push(child);
              break;
            }
            case 'exec':
              w.exec('t', pid, ['x']);
              ls.length = 0;
              break;
            case 'exit':
              w.exit('t', pid);
              ls.length = 0;
              live.delete(pid);
              break;
          }
          model.set(pid, ls);
          const count = [...model.values()].reduce((n, x) => n + x.length, 0);
          expect(w.correlator.flow.stats().sharedMappings).toBe(count);
        }
        for (const pid of live) w.exit('t', pid);
        expect(w.correlator.flow.stats().sharedMappings).toBe(0);
      }),
    );
  });
});
