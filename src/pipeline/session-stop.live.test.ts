import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventOf } from '../schema/event.js';
import { LiveHarness, ofKind } from '../testing/live-harness.js';

/**
 * The end of a live session: chainwatch asks the probe for what its END
 * block would print (reads the kernel still holds back, runs not yet
 * summed) instead of waiting ~6 s for the kernel to detach every tracepoint,
 * and nothing the probe held is lost.
 */

const PAUSE_NR = 34; // pause(2) on x86-64: the probe traces no record for it

let h: LiveHarness | undefined;

afterAll(() => h?.cleanup());

/** Resolves when `pid` sits in pause(2): everything it did before is in the kernel's maps. */
async function paused(pid: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const nr = Number(readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]);
    if (nr === PAUSE_NR) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`process ${pid} never reached pause(2)`);
}

describe('live: stopping a session', () => {
  it('prints the reads and runs the probe still holds for a process that is still running, without waiting for the detach', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-stop-'));
    const file = join(dir, 'held.txt');
    writeFileSync(file, 'x'.repeat(4096));
    h = new LiveHarness('stop');
    const cg = h.cgroup('held');
    await h.start();
    // three reads of one file, then silence: the first read is kept back (@pr) until the process' next
    // record, the other two are summed in its run (@run); the process prints nothing more before the stop
    const procs = join(h.cgRoot, cg.path, 'cgroup.procs');
    const child = spawn('/bin/bash', ['-c', `echo $$ > ${procs} && exec python3 -c "$CW_SCRIPT"`], {
      env: {
        ...process.env,
        CW_SCRIPT: ['import os, signal', `fd = os.open(${JSON.stringify(file)}, os.O_RDONLY)`, 'for _ in range(3): os.read(fd, 100)', 'signal.pause()'].join('\n'),
      },
      stdio: 'ignore',
    });
    // a tracer that peeks four words of its child's memory and pauses without detaching: the first word is
    // printed at once, the sum of the other three is still in the probe (@ptr) at the stop
    const tracer = spawn('/bin/bash', ['-c', `echo $$ > ${procs} && exec python3 -c "$CW_SCRIPT"`], {
      env: {
        ...process.env,
        CW_SCRIPT: [
          'import ctypes, os, signal',
          'libc = ctypes.CDLL(None, use_errno=True)',
          'libc.ptrace.restype = ctypes.c_long',
          'libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]',
          'b = ctypes.create_string_buffer(64)',
          'child = os.fork()',
          'if child == 0:',
          '    signal.pause()',
          '    os._exit(0)',
          'libc.ptrace(16, child, None, None)',
          'os.waitpid(child, 0)',
          'for i in range(4): libc.ptrace(2, child, ctypes.addressof(b) + 8 * i, None)',
          'signal.pause()',
        ].join('\n'),
      },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await paused(child.pid!);
      await paused(tracer.pid!);
      const summary = await h.close();
      expect(summary.probeStop).toBe('stop-request');
      expect(summary.lostEvents).toBe(0);
      expect(summary.malformedLines).toBe(0);
      const reads = ofKind(h.events, 'io').filter((e: EventOf<'io'>) => e.pid === child.pid && e.dir === 'in' && e.res?.fd?.path === file);
      expect(reads.reduce((n, e) => n + e.bytes, 0)).toBe(300);
      expect(reads.reduce((n, e) => n + e.calls, 0)).toBe(3);
      const peeks = ofKind(h.events, 'process.vm').filter((e) => e.pid === tracer.pid);
      expect(peeks.map((e) => [e.syscall, e.ret])).toEqual([
        ['ptrace.peekdata', 8],
        ['ptrace.peekdata', 24],
      ]);
    } finally {
      child.kill();
      await exited;
      // the tracer and its child (stopped by the trace)
      for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  }, 120_000);
});
