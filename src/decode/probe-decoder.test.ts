import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Event } from '../schema/event.js';
import { ProbeDecoder, type DecodeIssue } from './probe-decoder.js';

const EPOCH = 1_000_000_000n;
const line = (data: string): string => JSON.stringify({ type: 'printf', data: `${data}\n` });
/** The same record as bpftrace 0.17 prints it (a space after each colon and comma): the decoder's fast path. */
const bpftraceLine = (data: string): string => `{"type": "printf", "data": ${JSON.stringify(`${data}\n`)}}`;

// a small real-shaped session: exec with argv, open, dup2, read, connect, send, pending run at shutdown
const SESSION = [
  '{"type": "attached_probes", "data": {"probes": 120}}',
  line('HELLO\t1000000500\t4242'),
  line('A\t1000001000\t7\t100\t100\t0\tcurl'),
  line('A\t1000001000\t7\t100\t100\t1\t-T\tfile with\ttabs'),
  line('EXEC\t1000002000\t7\t100\t100\t100\t1\t266338304\t999\t/usr/bin/curl'),
  line('COMM\t1000002100\t7\t100\t100\tcurl'),
  line('OPEN\t1000003000\t7\t100\t100\t257\t4294967196\t524288\t0\t3\t266338304\t612\t33188\t/etc/hostname'),
  line('DUP\t1000004000\t7\t100\t100\t33\t3\t9\t0\t9'),
  line('IO\t1000005000\t7\t100\t100\t0\t0\t9\t5\t266338304\t612'),
  line('SOCK\t1000006000\t7\t100\t100\t2\t1\t0\t4\t9\t5000'),
  line('ADDR\t1000007000\t7\t100\t100\t42\t4\t0\t9\t5000\t2\t8080\t0\t127.0.0.2'),
  line('IO\t1000008000\t7\t100\t100\t1\t44\t4\t5\t9\t5000'),
  line('RUN\t1000009000\t7\t100\t100\t1\t44\t4\t-1\t3\t300\t1000008500'),
  line('TICK\t1000010000'),
  '{"type": "lost_events", "data": {"events": 17}}',
  '{"type": "map", "data": {"@run": {"100,0": [10,0,1,1000011000,1000012000,4096,2,1000011000,0,100,7]}}}',
  line('BYE\t1000013000'),
];

function decodeAll(lines: string[], issues: DecodeIssue[] = []): Event[] {
  const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
  return lines.flatMap((l, i) => d.decodeLine(l, i + 1));
}

describe('probe decoder', () => {
  it('open_by_handle_at (OPENH) is an open with no path, its descriptor\'s object and the handle passed, as hex of its length', () => {
    const issues: DecodeIssue[] = [];
    const [open] = decodeAll([line('OPENH\t1000001000\t7\t100\t100\t3\t0\t4\t266338304\t3204345\t33188\t1\t8\t3204345\t3860592547\t0\t0\t0\t0\t0\t0\t0\t0')], issues);
    expect(issues).toEqual([]);
    expect(open).toEqual({
      ts: 1000, cgroup: 7, pid: 100, tid: 100, kind: 'file.open', syscall: 'open_by_handle_at', dirfd: 3, path: '', path_truncated: false,
      flags: 0, mode: 0, ret: 4, obj: '254:0:3204345', file_type: 'file', handle: { type: 1, bytes: 8, hex: 'f9e43000a3f71be6' },
    });
    expect(() => Event.parse(open)).not.toThrow();
    // a failed one: no object; a handle longer than the probe reads keeps its first 40 bytes
    const [failed] = decodeAll([line('OPENH\t1000002000\t7\t100\t100\t3\t0\t-116\t0\t0\t0\t-1\t128\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10')]);
    expect(failed).toMatchObject({ ret: -116, obj: null, file_type: 'unknown', handle: { type: -1, bytes: 128 } });
    expect((failed as Extract<Event, { kind: 'file.open' }>).handle!.hex).toHaveLength(80);
  });

  it('a thread first seen (TASK) names its parent, its name and its program (where its command line starts); a kernel thread has none', () => {
    const issues: DecodeIssue[] = [];
    const events = decodeAll([line('TASK\t1000001000\t7\t100\t101\t1\t140722998942438\tbash\twith tab'), line('TASK\t1000002000\t1\t2\t2\t0\t0\tkthreadd')], issues);
    expect(issues).toEqual([]);
    expect(events).toEqual([
      { ts: 1000, cgroup: 7, pid: 100, tid: 101, kind: 'process.seen', ppid: 1, comm: 'bash\twith tab', arg_start: 140722998942438 },
      { ts: 2000, cgroup: 1, pid: 2, tid: 2, kind: 'process.seen', ppid: 0, comm: 'kthreadd' },
    ]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
  });

  it('decodes a session into valid canonical events', () => {
    const issues: DecodeIssue[] = [];
    const events = decodeAll(SESSION, issues);
    expect(issues).toEqual([]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    const kinds = events.map((e) => e.kind);
    expect(kinds).toEqual(['process.exec', 'process.comm', 'file.open', 'fd.dup', 'io', 'fd.socket', 'net.addr', 'io', 'io', 'loss', 'io']);
    const exec = events[0] as Extract<Event, { kind: 'process.exec' }>;
    expect(exec.argv).toEqual(['curl', '-T\tfile with\ttabs']);
    expect(exec.ts).toBe(2000);
    expect(exec.exe_obj).toBe('254:0:999');
    const open = events[2] as Extract<Event, { kind: 'file.open' }>;
    expect(open).toMatchObject({ dirfd: -100, ret: 3, path: '/etc/hostname', obj: '254:0:612', file_type: 'file', flags: 524288 });
    const conn = events[6] as Extract<Event, { kind: 'net.addr' }>;
    expect(conn).toMatchObject({ op: 'connect', family: 'inet', addr: '127.0.0.2', port: 8080, obj: '0:9:5000', fd: 4 });
    const run = events[8] as Extract<Event, { kind: 'io' }>;
    expect(run).toMatchObject({ dir: 'out', syscall: 'sendto', calls: 3, bytes: 300, ts: 9000, ts_first: 8500, obj: null });
    expect(events[9]).toMatchObject({ kind: 'loss', events: 17 });
    expect(events[10]).toMatchObject({ kind: 'io', dir: 'in', fd: 9, calls: 2, bytes: 4096, pid: 100, cgroup: 7 });
  });

  it('kept first reads: RDCL is the read, the rest of its run and the close; IOD and an @pr dump are the read alone; all marked deferred', () => {
    const issues: DecodeIssue[] = [];
    const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
    // whether each event was handed over as held back by the probe (read in the emit callback, as the reorder stage does)
    const deferred = new Map<Event, boolean>();
    const at = (l: string): Event[] => {
      const out: Event[] = [];
      d.decodeLineTo(l, 0, (e) => {
        out.push(e);
        deferred.set(e, d.emittingDeferred);
      });
      return out;
    };
    const opened = at(line('OPEN\t1000003000\t7\t100\t101\t257\t4294967196\t0\t0\t3\t266338304\t612\t33188\t/etc/passwd'));
    const rdcl = at(line('RDCL\t1000004000\t7\t100\t101\t0\t3\t4096\t266338304\t612\t2\t1157\t1000004500\t1000004900\t1000005000\t0'));
    expect(rdcl).toEqual([
      { ts: 4000, cgroup: 7, pid: 100, tid: 101, kind: 'io', dir: 'in', syscall: 'read', fd: 3, bytes: 4096, calls: 1, ts_first: 4000, obj: '254:0:612' },
      { ts: 4900, cgroup: 7, pid: 100, tid: 101, kind: 'io', dir: 'in', syscall: 'read', fd: 3, bytes: 1157, calls: 2, ts_first: 4500, obj: null },
      { ts: 5000, cgroup: 7, pid: 100, tid: 101, kind: 'fd.close', fd: 3, ret: 0 },
    ]);
    // a file read in one call and closed: no run summary
    const once = at(line('RDCL\t1000006000\t7\t100\t101\t17\t3\t12\t266338304\t613\t0\t0\t0\t0\t1000006100\t0'));
    expect(once.map((e) => e.kind)).toEqual(['io', 'fd.close']);
    expect(once[0]).toMatchObject({ syscall: 'pread64', bytes: 12, calls: 1, obj: '254:0:613' });
    const iod = at(line('IOD\t1000007000\t7\t100\t101\t0\t0\t5\t64\t266338304\t614'));
    expect(iod).toEqual([{ ts: 7000, cgroup: 7, pid: 100, tid: 101, kind: 'io', dir: 'in', syscall: 'read', fd: 5, bytes: 64, calls: 1, ts_first: 7000, obj: '254:0:614' }]);
    const dumped = at('{"type": "map", "data": {"@pr": {"100": [1000008000, 101, 0, 6, 99, 266338304, 615, 7]}}}');
    expect(dumped).toEqual([{ ts: 8000, cgroup: 7, pid: 100, tid: 101, kind: 'io', dir: 'in', syscall: 'read', fd: 6, bytes: 99, calls: 1, ts_first: 8000, obj: '254:0:615' }]);
    expect(at('{"type": "map", "data": {"@pr": {}}}')).toEqual([]);
    expect(issues).toEqual([]);
    for (const e of [...rdcl, ...once, ...iod, ...dumped]) {
      expect(() => Event.parse(e)).not.toThrow();
      expect(deferred.get(e)).toBe(true);
    }
    expect(deferred.get(opened[0]!)).toBe(false);
    expect(d.emittingDeferred).toBe(false);
    // a malformed dump entry is reported, not guessed
    expect(at('{"type": "map", "data": {"@pr": {"100": [1, 2]}}}')).toEqual([]);
    expect(issues.map((i) => i.reason)).toEqual(['@pr entry 100 malformed']);
  });

  it('a string with escapes beyond TAB and newline (quote, backslash, control character, non-ASCII) comes through exactly', () => {
    const issues: DecodeIssue[] = [];
    for (const path of ['/tmp/a"b', '/tmp/back\\slash\\t', '/tmp/bell\u0007', '/tmp/caf\u00e9\tand\ttab', '/tmp/ends\\']) {
      const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
      for (const format of [line, bpftraceLine]) {
        const [open] = d.decodeLine(format(`OPEN\t1000003000\t7\t100\t100\t257\t4294967196\t0\t0\t3\t266338304\t612\t33188\t${path}`));
        expect(open).toMatchObject({ kind: 'file.open', path });
      }
      expect(d.stats.records).toBe(2);
    }
    expect(issues).toEqual([]);
  });

  it('the fast path (records parsed in their escaped form) and JSON.parse agree on every record, whatever its string holds', () => {
    const decode = (l: string): { events: Event[]; issues: string[] } => {
      const issues: string[] = [];
      const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i.reason) });
      return { events: d.decodeLine(l, 1), issues };
    };
    fc.assert(
      fc.property(
        fc.constantFrom('OPEN\t1000003000\t7\t100\t100\t257\t4294967196\t0\t0\t3\t266338304\t612\t33188\t', 'S\t1000001000\t7\t100\t100\t1\t', 'A\t1000001000\t7\t100\t100\t1\t', 'CLOSE\t1000001000\t7\t100\t100\t3\t', 'COMM\t1000002100\t7\t100\t100\t'),
        fc.string({ unit: 'binary', maxLength: 40 }),
        (head, tail) => {
          const viaJson = decode(line(head + tail));
          const fast = decode(bpftraceLine(head + tail));
          expect(fast).toEqual(viaJson);
        },
      ),
      { numRuns: 2000 },
    );
    // the real session, printed as bpftrace prints it, decodes to the same events
    const spaced = SESSION.map((l) => (l.startsWith('{"type":"printf"') ? bpftraceLine((JSON.parse(l) as { data: string }).data.slice(0, -1)) : l));
    expect(decodeAll(spaced)).toEqual(decodeAll(SESSION));
  });

  it('decoding runs of whole lines in place (decodeText) equals decoding line by line: events, stats and issue line numbers', () => {
    const spaced = SESSION.map((l) => (l.startsWith('{"type":"printf"') ? bpftraceLine((JSON.parse(l) as { data: string }).data.slice(0, -1)) : l));
    const anyLine = fc.oneof(fc.constantFrom(...SESSION, ...spaced, '', ' ', 'not json', '{"type": "printf", "data": "CLOSE\\tbroken"}'), fc.string({ maxLength: 30 }).filter((s) => !s.includes('\n')));
    const run = (lines: string[], cuts: number[], byText: boolean): unknown => {
      const issues: DecodeIssue[] = [];
      const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
      const events: Event[] = [];
      if (!byText) lines.forEach((l, i) => d.decodeLineTo(l, i + 1, (e) => events.push(e)));
      else {
        // the runs a reader hands over: whole lines, cut after any newline; the last line without one
        const at = [...new Set(cuts.map((c) => c % (lines.length + 1)))].sort((a, b) => a - b);
        let from = 0;
        for (const c of [...at, lines.length]) {
          const part = lines.slice(from, c);
          if (part.length > 0) d.decodeText(part.map((l, i) => (from + i === lines.length - 1 ? l : `${l}\n`)).join(''), (e) => events.push(e));
          from = Math.max(from, c);
        }
      }
      return { events, stats: d.stats, issues };
    };
    fc.assert(
      fc.property(fc.array(anyLine, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), (lines, cuts) => {
        // a blank last line has no newline to show it: a reader never hands one over
        if (lines[lines.length - 1] === '') lines[lines.length - 1] = ' ';
        expect(run(lines, cuts, true)).toEqual(run(lines, cuts, false));
      }),
      { numRuns: 1000 },
    );
  });

  it('a path kept from a decoded record does not keep alive the 64 KiB read it came in', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const d = new ProbeDecoder({ monoEpochNs: EPOCH });
    const pad = `${bpftraceLine('TICK\t1000000001')}\n`.repeat(1500);
    const kept: string[] = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 400; i++) {
      // a fresh read each time: filler records around one open whose path the state would keep
      const path = `/srv/data/some-directory/file-${i}.txt`;
      const text = `${pad}${bpftraceLine(`OPEN\t1000003000\t7\t100\t100\t257\t4294967196\t0\t0\t3\t266338304\t${612 + i}\t33188\t${path}`)}\n${pad}`;
      expect(text.length).toBeGreaterThan(100_000);
      d.decodeText(text, (e) => {
        if (e.kind === 'file.open') kept.push(e.path);
      });
    }
    gc();
    const perPath = (process.memoryUsage().heapUsed - before) / kept.length;
    expect(kept).toHaveLength(400);
    expect(kept[7]).toBe('/srv/data/some-directory/file-7.txt');
    // a view into its read would hold ~100 KB per path; a copy, a few hundred bytes
    expect(perPath).toBeLessThan(8_000);
  });

  it('never throws on arbitrary lines, and bad lines never disturb the lines around them', () => {
    const clean = decodeAll(SESSION).map((e) => JSON.stringify(e));
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 120 }),
            fc.string({ unit: 'binary', maxLength: 60 }).map((s) => line(s)),
            fc.constantFrom('{"type":"printf"}', '{"type":"printf","data":5}', 'null', '[]', '{"type":"lost_events","data":{"events":-1}}', '{"type":"map","data":{"@run":{"1,0":[1,2]}}}', '{"type":"map","data":{"@pr":{"x":[1,2,3,4,5,6,7,8]}}}', line('OPEN\t1\t2'), line('RDCL\t1\t2\t3')),
          ),
          { maxLength: 12 },
        ),
        fc.nat(),
        (garbage, seed) => {
          const mixed = [...SESSION];
          // insert garbage at positions that do not split an S-record group from its EXEC
          for (let i = 0; i < garbage.length; i++) {
            const at = (seed + i * 7) % mixed.length;
            const safe = at <= 2 || at >= 5 ? at : 5;
            mixed.splice(safe, 0, garbage[i]!);
          }
          const issues: DecodeIssue[] = [];
          const got = decodeAll(mixed, issues).map((e) => JSON.stringify(e));
          // garbage that happens to be a valid record adds events; the clean events are all still there, in order
          let j = 0;
          for (const e of got) if (j < clean.length && e === clean[j]) j++;
          expect(j).toBe(clean.length);
          for (const i of issues) expect(i.line).toBeGreaterThan(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('exec arguments printed on the CPU execve started on reach their own exec however the two CPUs\' records interleave', () => {
    // CPU A (execve entries): a failed PATH lookup's run, then each exec's run, of two threads
    const cpuA = [
      line('A\t1000001000\t7\t100\t100\t0\tnc'),
      line('A\t1000001000\t7\t100\t100\t1\t-z'),
      line('A\t1000001000\t7\t100\t100\t2\t-w'),
      line('A\t1000001000\t7\t100\t100\t3\t5'),
      line('A\t1000001100\t7\t200\t200\t0\tcat'),
      line('A\t1000001500\t7\t100\t100\t0\tnc'),
      line('A\t1000001500\t7\t100\t100\t1\t-N'),
      line('A\t1000001500\t7\t100\t100\t2\t127.0.0.2'),
      line('A\t1000001500\t7\t100\t100\t-1\t'),
      line('A\t1000003000\t7\t100\t100\t0\tbash'),
      line('A\t1000003000\t7\t100\t100\t1\t/usr/local/bin/script'),
      line('A\t1000003300\t7\t200\t200\t0\tsh'),
      line('A\t1000003300\t7\t200\t200\t1\t-c'),
    ];
    // CPU B (after sched_exec moved the tasks): the exec records, a rename's strings and record, an exec with no arguments at all
    const cpuB = [
      line('EXEC\t1000002000\t7\t100\t100\t100\t1\t266338304\t999\t/usr/bin/nc'),
      line('EXEC\t1000002100\t7\t200\t200\t200\t1\t266338304\t998\t/usr/bin/cat'),
      line('EXEC\t1000004000\t7\t100\t100\t100\t1\t266338304\t997\t/usr/bin/bash'),
      line('EXEC\t1000004100\t7\t200\t200\t200\t1\t266338304\t996\t/usr/bin/sh'),
      line('S\t1000005000\t7\t100\t100\t0\t/tmp/a'),
      line('S\t1000005000\t7\t100\t100\t1\t/tmp/b'),
      line('PATH2\t1000005000\t7\t100\t100\t82\t4294967196\t4294967196\t0\t0'),
      line('EXEC\t1000006000\t7\t100\t100\t100\t1\t266338304\t995\t/usr/bin/true'),
    ];
    const want: [string, string[], boolean][] = [
      ['/usr/bin/nc', ['nc', '-N', '127.0.0.2'], true],
      ['/usr/bin/cat', ['cat'], false],
      ['/usr/bin/bash', ['bash', '/usr/local/bin/script'], false],
      ['/usr/bin/sh', ['sh', '-c'], false],
      ['/usr/bin/true', [], false],
    ];
    // any merge of the two CPUs' streams, each in its own order (bpftrace reads whole stretches of one buffer, then the other)
    const merges = fc.array(fc.boolean(), { minLength: cpuA.length + cpuB.length, maxLength: cpuA.length + cpuB.length });
    fc.assert(
      fc.property(merges, (fromA) => {
        const lines: string[] = [];
        let i = 0;
        let j = 0;
        for (const a of fromA) {
          if ((a && i < cpuA.length) || j >= cpuB.length) lines.push(cpuA[i++]!);
          else lines.push(cpuB[j++]!);
        }
        const d = new ProbeDecoder({ monoEpochNs: EPOCH });
        const events = lines.flatMap((l, n) => d.decodeLine(l, n + 1));
        // the reorder stage releases events in time order, every record stamped before each one having arrived
        const execs = events.filter((x): x is Extract<Event, { kind: 'process.exec' }> => x.kind === 'process.exec').sort((x, y) => x.ts - y.ts);
        for (const e of execs) d.completeExec(e);
        expect(execs.map((e) => [e.filename, e.argv, e.argv_truncated])).toEqual(want);
        // the strings of a rename are its own
        expect(events.find((x) => x.kind === 'file.path2')).toMatchObject({ op: 'rename', old_path: '/tmp/a', new_path: '/tmp/b' });
        expect(d.stats.argsLate).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('an exec argument that arrives after its exec was released is counted, never given to a later exec', () => {
    const d = new ProbeDecoder({ monoEpochNs: EPOCH });
    const [first] = d.decodeLine(line('EXEC\t1000002000\t7\t100\t100\t100\t1\t266338304\t999\t/usr/bin/nc'), 1) as [Extract<Event, { kind: 'process.exec' }>];
    d.completeExec(first);
    d.decodeLine(line('A\t1000001500\t7\t100\t100\t0\tnc'), 2);
    const [second] = d.decodeLine(line('EXEC\t1000004000\t7\t100\t100\t100\t1\t266338304\t998\t/usr/bin/true'), 3) as [Extract<Event, { kind: 'process.exec' }>];
    d.completeExec(second);
    expect([first.argv, second.argv]).toEqual([[], []]);
    expect(d.stats.argsLate).toBe(1);
  });

  it('io_uring opens: the path (UPATH, at submission) and the completion (UOPEN, often another CPU) make one open, whichever arrives first', () => {
    // two opens in flight on one ring; a read through the ring; a splice the probe cannot follow
    const paths = [line('UPATH\t1000001000\t7\t100\t100\t4096\t/etc/shadow'), line('UPATH\t1000001100\t7\t100\t100\t8192\tnotes.txt')];
    const opens = [
      line('UOPEN\t1000002000\t7\t100\t101\t1018\t4096\t4294967196\t32768\t0\t5\t266338304\t739\t33184'),
      line('UOPEN\t1000002100\t7\t100\t101\t1028\t8192\t4294967196\t32768\t0\t-2\t0\t0\t0'),
    ];
    const rest = [
      line('IO\t1000003000\t7\t100\t101\t0\t1022\t-1\t656\t266338304\t739'),
      line('UBLIND\t1000004000\t7\t100\t101\t30\t656'),
      // the summed rest of the read run, and a send run still open at the stop (the @run dump, keyed by pid)
      line('URUN\t1000004500\t7\t100\t102\t3\t1022\t5\t320\t1000003100\t266338304\t739'),
      '{"type": "map", "data": {"@run": {"100,4": [0, 1026, 0, 1000005000, 1000006000, 128, 2, 1000005000, 0, 100, 7, 9, 9000, 0]}}}',
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray([...paths, ...opens], { minLength: 4, maxLength: 4 }), (order) => {
        const events = decodeAll([...order, ...rest]);
        for (const e of events) expect(() => Event.parse(e)).not.toThrow();
        const got = events.filter((e) => e.kind === 'file.open');
        expect(got.map((e) => [e.syscall, e.path, e.ret, e.obj])).toEqual(
          expect.arrayContaining([
            ['io_uring.openat', '/etc/shadow', 5, '254:0:739'],
            ['io_uring.openat2', 'notes.txt', -2, null],
          ]),
        );
        expect(got).toHaveLength(2);
        expect(events.filter((e) => e.kind === 'io')).toMatchObject([
          { syscall: 'io_uring.read', dir: 'in', fd: -1, obj: '254:0:739', bytes: 656, calls: 1 },
          { syscall: 'io_uring.read', dir: 'in', fd: -1, obj: '254:0:739', bytes: 320, calls: 5, ts_first: 3100, tid: 102 },
          { syscall: 'io_uring.send', dir: 'out', fd: -1, obj: '0:9:9000', bytes: 128, calls: 2, pid: 100 },
        ]);
        expect(events.find((e) => e.kind === 'loss')).toMatchObject({ source: 'io_uring.splice', events: 1, pid: 100, tid: 101, cgroup: 7 });
      }),
    );
  });

  it('an io_uring send with a destination (UDEST): a net.dest on the ring\'s socket object, IPv4 and IPv6 from the kernel\'s words', () => {
    const events = decodeAll([
      // 127.0.0.2:5353 (in-memory word 0x0200007f)
      line('UDEST\t1000001000\t7\t100\t101\t900\t9\t9000\t2\t5353\t33554559\t0\t0\t0'),
      // [2001:db8::1]:53
      line('UDEST\t1000002000\t7\t100\t101\t64\t9\t9001\t10\t53\t3087860000\t0\t0\t16777216'),
    ]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events).toMatchObject([
      { kind: 'net.dest', fd: -1, ret: 900, family: 'inet', addr: '127.0.0.2', port: 5353, obj: '0:9:9000', pid: 100, tid: 101 },
      { kind: 'net.dest', fd: -1, ret: 64, family: 'inet6', addr: '2001:db8::1', port: 53, obj: '0:9:9001' },
    ]);
  });

  it("a thread's first 32-bit syscall (I32) is a process.compat_syscall event naming the i386 call", () => {
    const issues: DecodeIssue[] = [];
    const events = decodeAll([line('I32\t1000001000\t7\t100\t101\t5'), line('I32\t1000001100\t7\t100\t102\t102'), line('I32\t1000001200\t7\t100\t103\t999')], issues);
    expect(issues).toEqual([]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events).toMatchObject([
      { kind: 'process.compat_syscall', pid: 100, tid: 101, cgroup: 7, nr: 5, syscall: 'ia32.open' },
      { kind: 'process.compat_syscall', tid: 102, nr: 102, syscall: 'ia32.socketcall' },
      { kind: 'process.compat_syscall', tid: 103, nr: 999, syscall: 'ia32.999' },
    ]);
  });

  it('memory of another process: process_vm_readv/writev (PVM) and ptrace peeks and pokes (PTR) are process.vm events with the bytes moved', () => {
    const issues: DecodeIssue[] = [];
    const events = decodeAll([
      line('PVM\t1000001000\t7\t100\t100\t310\t200\t64'),
      line('PVM\t1000001100\t7\t100\t100\t311\t200\t-1'),
      // a run of PTRACE_PEEKDATA at pid 200: the first word, then the sum of fifteen more
      line('PTR\t1000002000\t7\t100\t101\t2\t200\t8'),
      line('PTR\t1000003000\t7\t100\t101\t2\t200\t120'),
      line('PTR\t1000004000\t7\t100\t101\t5\t200\t8'),
      line('PTR\t1000005000\t7\t100\t101\t1\t200\t8'),
      // at shutdown: a run of pokes whose sum was still pending (key tid; request+1, target, words after the first, first ts, last ts, pid, cgroup)
      '{"type": "map", "data": {"@ptr": {"101": [6, 200, 3, 1000006000, 1000007000, 100, 7], "102": [3, 200, 0, 1000006000, 1000006000, 100, 7]}}}',
      '{"type": "map", "data": {"@pte": {"101": [3, 200]}, "@ud": {}}}',
    ], issues);
    expect(issues).toEqual([]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events.map((e) => e.kind === 'process.vm' && [e.syscall, e.dir, e.target, e.ret])).toEqual([
      ['process_vm_readv', 'in', 200, 64],
      ['process_vm_writev', 'out', 200, -1],
      ['ptrace.peekdata', 'in', 200, 8],
      ['ptrace.peekdata', 'in', 200, 120],
      ['ptrace.pokedata', 'out', 200, 8],
      ['ptrace.peektext', 'in', 200, 8],
      ['ptrace.pokedata', 'out', 200, 24],
    ]);
    expect(events.at(-1)).toMatchObject({ pid: 100, tid: 101, cgroup: 7, ts: 7000 });
  });

  it('SCM_RIGHTS records: sent (dir 1), received (0), received close-on-exec (2, MSG_CMSG_CLOEXEC); a socket passed names its family', () => {
    const events = decodeAll([
      line('RIGHTS\t1000001000\t7\t100\t101\t1\t5\t0\t1\t3\t265289728\t77\t0'),
      line('RIGHTS\t1000002000\t7\t200\t201\t0\t6\t0\t1\t9\t265289728\t77\t0'),
      line('RIGHTS\t1000003000\t7\t200\t201\t2\t6\t0\t1\t10\t265289728\t77\t0'),
      line('RIGHTS\t1000004000\t7\t200\t201\t0\t6\t0\t1\t11\t8\t900\t2'),
    ]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events.map((e) => e.kind === 'fd.rights' && [e.dir, e.fd, e.obj, e.cloexec, e.family])).toEqual([
      ['send', 3, '253:0:77', undefined, undefined],
      ['recv', 9, '253:0:77', undefined, undefined],
      ['recv', 10, '253:0:77', true, undefined],
      ['recv', 11, '0:8:900', undefined, 'inet'],
    ]);
  });

  it('vmsplice (278) is a write into a pipe (slot 1) or a read out of one (slot 0), as the probe found the end\'s mode', () => {
    const events = decodeAll([
      line('IO\t1000001000\t7\t100\t101\t1\t278\t4\t1980\t15\t900'),
      line('IO\t1000002000\t7\t200\t201\t0\t278\t3\t1980\t15\t900'),
    ]);
    expect(events.map((e) => e.kind === 'io' && [e.syscall, e.dir, e.fd, e.bytes, e.obj])).toEqual([
      ['vmsplice', 'out', 4, 1980, '0:15:900'],
      ['vmsplice', 'in', 3, 1980, '0:15:900'],
    ]);
  });

  it('socket families by their AF_* number; one the model does not name is other', () => {
    const fams = [1, 2, 10, 16, 17, 21, 29, 30, 31, 38, 40, 44, 42].map((f, i) => {
      const [e] = decodeAll([line(`SOCK\t${1000001000 + i}\t7\t100\t101\t${f}\t3\t0\t${4 + i}\t9\t${6000 + i}`)]);
      expect(() => Event.parse(e)).not.toThrow();
      return e!.kind === 'fd.socket' ? e!.family : e!.kind;
    });
    expect(fams).toEqual(['unix', 'inet', 'inet6', 'netlink', 'packet', 'rds', 'can', 'tipc', 'bluetooth', 'alg', 'vsock', 'xdp', 'other']);
  });

  it('a vsock connect (ADDR, family 40) names the peer by its CID and port', () => {
    const [e] = decodeAll([line('ADDR\t1000001000\t7\t100\t101\t42\t5\t0\t9\t5000\t40\t1024\t0\t2')]);
    expect(() => Event.parse(e)).not.toThrow();
    expect(e).toMatchObject({ kind: 'net.addr', op: 'connect', family: 'vsock', addr: 'cid:2', port: 1024 });
  });

  it('pidfd_getfd (GETFD): the target, its fd, the new fd and the object; a target the probe could not read is -1', () => {
    const events = decodeAll([
      line('GETFD\t1000001000\t7\t100\t101\t5\t3\t200\t6\t265289728\t77'),
      line('GETFD\t1000002000\t7\t100\t101\t5\t3\t-1\t-9\t0\t0'),
    ]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events).toMatchObject([
      { kind: 'fd.getfd', pidfd: 5, target_fd: 3, target: 200, ret: 6, obj: '253:0:77', pid: 100, tid: 101 },
      { kind: 'fd.getfd', target: -1, ret: -9, obj: null },
    ]);
  });

  it('extended attributes (XATTR): a set names the value\'s size, a get the bytes read; a descriptor\'s own carry its identity, a path\'s none', () => {
    const issues: DecodeIssue[] = [];
    const events = decodeAll([line('XATTR\t1000001000\t7\t100\t100\t188\t4294967196\t80\t0\t0\t0\t/tmp/stage.txt'), line('XATTR\t1000002000\t7\t100\t100\t193\t4\t65536\t80\t266338304\t612\t')], issues);
    expect(issues).toEqual([]);
    expect(events).toEqual([
      { ts: 1000, cgroup: 7, pid: 100, tid: 100, kind: 'file.xattr', syscall: 'setxattr', op: 'set', fd: -100, path: '/tmp/stage.txt', bytes: 80, ret: 0, obj: null },
      { ts: 2000, cgroup: 7, pid: 100, tid: 100, kind: 'file.xattr', syscall: 'fgetxattr', op: 'get', fd: 4, path: '', bytes: 80, ret: 80, obj: '254:0:612' },
    ]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
  });

  it('a read or write whose descriptor the probe could not find in the saved registers (NOARGS) is a lost event named by the call', () => {
    const events = decodeAll([line('NOARGS\t1000001000\t7\t100\t101\t0'), line('NOARGS\t1000002000\t7\t100\t101\t44')]);
    expect(events).toMatchObject([
      { kind: 'loss', events: 1, source: 'read.args', pid: 100, tid: 101, cgroup: 7, ts: 1000 },
      { kind: 'loss', events: 1, source: 'sendto.args' },
    ]);
  });

  it('descriptors passed by sendmmsg/recvmmsg (MCTL) are lost events named by the call', () => {
    const events = decodeAll([line('MCTL\t1000001000\t7\t100\t101\t307'), line('MCTL\t1000002000\t7\t100\t101\t299')]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events).toMatchObject([
      { kind: 'loss', events: 1, source: 'sendmmsg.control', pid: 100, tid: 101, cgroup: 7 },
      { kind: 'loss', events: 1, source: 'recvmmsg.control' },
    ]);
  });

  it('shared mappings (MAP), munmap (UNMAP), mremap (REMAP), System V shmat (SHMAT) and shmdt (UNMAP of length 0): a file\'s mapping names its object, an anonymous one none', () => {
    const addr = 0x7f12_3456_7000;
    const events = decodeAll([
      line(`MAP\t1000001000\t7\t100\t101\t${addr}\t65536\t3\t1\t4\t265289728\t1234`),
      line(`MAP\t1000002000\t7\t100\t101\t${addr + 65536}\t4096\t3\t33\t-1\t0\t0`),
      line(`REMAP\t1000003000\t7\t100\t101\t${addr}\t65536\t${addr * 2}\t131072`),
      line(`UNMAP\t1000004000\t7\t100\t101\t${addr * 2}\t131072`),
      line(`SHMAT\t1000005000\t7\t100\t101\t32769\t${addr * 3}\t4096\t4026531839`),
      line(`SHMAT\t1000006000\t7\t100\t101\t32769\t${addr * 4}\t0\t4026531839`),
      line(`UNMAP\t1000007000\t7\t100\t101\t${addr * 3}\t0`),
    ]);
    for (const e of events) expect(() => Event.parse(e)).not.toThrow();
    expect(events).toMatchObject([
      { kind: 'mem.map', addr, len: 65536, prot: 3, flags: 1, fd: 4, obj: '253:0:1234', pid: 100, tid: 101, cgroup: 7 },
      { kind: 'mem.map', addr: addr + 65536, len: 4096, flags: 33, fd: -1, obj: null },
      { kind: 'mem.remap', addr, old_len: 65536, new_addr: addr * 2, new_len: 131072 },
      { kind: 'mem.unmap', addr: addr * 2, len: 131072 },
      // System V: SHM_RDONLY (0o10000) is read-only, the length unknown
      { kind: 'mem.map', addr: addr * 3, len: 0, prot: 1, flags: 1, fd: -1, obj: null, shmid: 32769, ipc_ns: 4026531839 },
      { kind: 'mem.map', addr: addr * 4, len: 0, prot: 3, shmid: 32769 },
      { kind: 'mem.unmap', addr: addr * 3, len: 0 },
    ]);
  });

  it('an io_uring open whose path never comes is emitted without one after a second, so nothing waits for ever', () => {
    const d = new ProbeDecoder({ monoEpochNs: EPOCH });
    const open = line('UOPEN\t1000002000\t7\t100\t101\t1018\t4096\t4294967196\t32768\t0\t5\t266338304\t739\t33184');
    expect(d.decodeLine(open, 1)).toEqual([]);
    expect(d.decodeLine(line('TICK\t1900000000'), 2)).toEqual([]);
    const late = d.decodeLine(line('TICK\t2002100000'), 3);
    expect(late).toMatchObject([{ kind: 'file.open', path: '', ret: 5, obj: '254:0:739' }]);
  });

  it('a removed cgroup (CGRM) is a task.cgroup_gone for that cgroup, to be named by the pipeline', () => {
    const issues: DecodeIssue[] = [];
    const events = decodeAll([bpftraceLine('CGRM\t1000020000\t4242'), line('CGRM\t1000020000')], issues);
    expect(events).toEqual([{ kind: 'task.cgroup_gone', ts: 20000, cgroup: 4242, pid: 0, tid: 0, path: '', task: '' }]);
    expect(() => Event.parse(events[0])).not.toThrow();
    expect(issues.map((i) => [i.line, i.reason])).toEqual([[2, 'CGRM: expected 2 numeric fields, got 1']]);
  });

  it('counts and reports a malformed line with its line number', () => {
    const issues: DecodeIssue[] = [];
    const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
    d.decodeLine(line('CLOSE\t1000000001\t1\t2\t2\t3\t0'), 1);
    d.decodeLine('{"type": "printf", "data": "CLOSE\\tbroken"}', 2);
    d.decodeLine('not json', 3);
    d.decodeLine('', 4);
    expect(issues.map((i) => i.line)).toEqual([2, 3]);
    expect(issues[0]!.reason).toContain('CLOSE');
    expect(d.stats).toMatchObject({ lines: 4, malformed: 2, blank: 1, events: 1 });
  });

  it('bookkeeping map dumps at exit are counted apart; an unknown map is malformed', () => {
    const issues: DecodeIssue[] = [];
    const d = new ProbeDecoder({ monoEpochNs: EPOCH, onIssue: (i) => issues.push(i) });
    expect(d.decodeLine('{"type": "map", "data": {"@cg": {"0": 0, "9126": 1}}}')).toEqual([]);
    expect(d.decodeLine('{"type": "map", "data": {"@w": {"0": 0}}}')).toEqual([]);
    expect(d.stats.bookkeepingDumps).toBe(2);
    expect(issues).toEqual([]);
    d.decodeLine('{"type": "map", "data": {"@evil": {"1": 1}}}');
    expect(issues.map((i) => i.reason)).toEqual(['map dump of an unknown map']);
  });

  it('keeps timestamps exact beyond 2^53 ns of uptime', () => {
    const epoch = 9_007_199_254_740_993n; // 2^53 + 1
    const d = new ProbeDecoder({ monoEpochNs: epoch });
    const [e] = d.decodeLine(line(`CLOSE\t${epoch + 12345n}\t1\t2\t2\t3\t0`));
    expect(e!.ts).toBe(12345);
  });
});

describe('bpftrace text mangling', () => {
  it('a non-ASCII string bpftrace printed as sign-extended \\uffffffXX escapes is given back as its UTF-8 text', () => {
    // what bpftrace 0.17 prints for a byte >= 0x80: \u, then the byte as a sign-extended int in hex
    const mangle = (s: string): string =>
      [...Buffer.from(s, 'utf8')].map((b) => (b >= 0x80 ? `\\uffffff${b.toString(16).padStart(2, '0')}` : JSON.stringify(String.fromCharCode(b)).slice(1, -1))).join('');
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('é', '€', '😀', 'ü', 'ï', '\u0080', '\u00ff'), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 30 }), (name) => {
        const path = `/tmp/${name.replaceAll('\0', '')}`;
        const ln = `{"type": "printf", "data": "OPEN\\t1000003000\\t7\\t100\\t100\\t257\\t4294967196\\t0\\t0\\t3\\t266338304\\t612\\t33188\\t${mangle(path)}\\n"}`;
        const [ev] = decodeAll([ln]);
        expect(ev).toMatchObject({ kind: 'file.open', path });
      }),
    );
  });
});

describe('message queues', () => {
  it('mq_open names its queue as the mqueue filesystem shows it (/dev/mqueue/NAME); a message sent or received is I/O on its descriptor', () => {
    const events = decodeAll([
      line('OPEN\t1000001000\t7\t100\t100\t240\t-100\t66\t384\t3\t19\t4242\t33152\t/jobs'),
      line('IO\t1000002000\t7\t100\t100\t1\t242\t3\t100\t19\t4242'),
      line('IO\t1000003000\t7\t101\t101\t0\t243\t3\t100\t19\t4242'),
    ]);
    expect(events).toMatchObject([
      { kind: 'file.open', syscall: 'mq_open', path: '/dev/mqueue/jobs', ret: 3, obj: '0:19:4242' },
      { kind: 'io', syscall: 'mq_timedsend', dir: 'out', fd: 3, bytes: 100, obj: '0:19:4242' },
      { kind: 'io', syscall: 'mq_timedreceive', dir: 'in', fd: 3, bytes: 100, obj: '0:19:4242' },
    ]);
  });
});
