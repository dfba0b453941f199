import { describe, expect, it } from 'vitest';
import { ExecArgs } from './exec-args.js';

describe('exec arguments', () => {
  it('stay bounded: threads that never exec again are forgotten oldest first, and the newest keep their arguments', () => {
    const a = new ExecArgs();
    // 40,000 threads that print arguments and never exec (failed execve), two strings each
    for (let tid = 1; tid <= 40_000; tid++) {
      a.add(tid, 0, 'sh', tid * 10);
      a.add(tid, 1, '-c', tid * 10 + 1);
    }
    // the newest thread still has its run; the oldest was forgotten
    expect(a.argvAt(40_000, 1e9)).toEqual({ argv: ['sh', '-c'], argv_truncated: false });
    expect(a.argvAt(1, 1e9)).toEqual({ argv: [], argv_truncated: false });
    // an exec released settles and forgets what came before it
    const ev = { argv: [] as string[], argv_truncated: false };
    a.complete(40_000, 1e9, ev);
    expect(ev.argv).toEqual(['sh', '-c']);
    expect(a.argvAt(40_000, 2e9).argv).toEqual([]);
  });

  it('a run longer than the probe reads is marked cut; a missing index is an empty string', () => {
    const a = new ExecArgs();
    a.add(7, 0, 'cmd', 100);
    a.add(7, 2, 'third', 101);
    a.add(7, -1, '', 102);
    const ev = { argv: [] as string[], argv_truncated: false };
    a.complete(7, 200, ev);
    expect(ev).toEqual({ argv: ['cmd', '', 'third'], argv_truncated: true });
  });
});
