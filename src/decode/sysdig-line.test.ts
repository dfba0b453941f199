import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flagNames, parseFdArg, parseSysdigLine, parseTuple } from './sysdig-line.js';

describe('parseSysdigLine', () => {
  it('never throws on arbitrary input: a record or a reason', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseSysdigLine(s);
        expect(typeof r === 'string' || typeof r === 'object').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back what a sysdig line holds, whatever the comm and the argument values', () => {
    const name = fc.stringMatching(/^[a-z_][a-z_0-9]{0,8}$/);
    // values may hold spaces, but not " name=" (that starts the next argument)
    const value = fc.string({ maxLength: 30 }).filter((v) => !/ [a-z_][a-z_0-9]*=/.test(` ${v}`) && !v.includes('\n') && !/^\s|\s$/.test(v));
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 63n }),
        fc.nat(),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 16 }).filter((c) => !/[\n]/.test(c) && c.trim() === c && c.length > 0),
        fc.nat(),
        fc.constantFrom('read', 'openat', 'accept4', '<unknown>'),
        fc.constantFrom('>', '<'),
        fc.uniqueArray(fc.tuple(name, value), { maxLength: 5, selector: (t) => t[0] }),
        (ts, uid, pid, comm, tid, type, dir, args) => {
          const line = `${ts} ${uid} ${pid} ${comm} ${tid} ${type} ${dir}${args.length ? ' ' : ''}${args.map(([k, v]) => `${k}=${v}`).join(' ')}`;
          const r = parseSysdigLine(line);
          if (typeof r === 'string') throw new Error(`${r}: ${line}`);
          expect(r).toMatchObject({ ts, uid, pid, tid, type, dir });
          // a comm ending in " <digits>" is ambiguous with the tid; the parser takes the shortest comm
          if (!/ \d+$/.test(comm)) expect(r.comm).toBe(comm);
          expect([...r.args]).toEqual(args.map(([k, v]) => [k, v]));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('parses fd annotations, tuples and flag names', () => {
    expect(parseFdArg('12(<4t>192.168.240.3:50140->192.168.240.21:443)')).toEqual({ num: 12, kind: '4t', name: '192.168.240.3:50140->192.168.240.21:443' });
    expect(parseFdArg('-2(ENOENT)')).toEqual({ num: -2 }); // an errno, not an object
    expect(parseFdArg('3')).toEqual({ num: 3 });
    expect(parseFdArg('4(<4>)')).toEqual({ num: 4, kind: '4' });
    expect(parseTuple('192.168.240.3:50140->192.168.240.21:443')).toEqual({ src: { addr: '192.168.240.3', port: 50140 }, dst: { addr: '192.168.240.21', port: 443 } });
    expect(flagNames('4097(O_RDONLY|O_CLOEXEC)')).toEqual(['O_RDONLY', 'O_CLOEXEC']);
  });
});
