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
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await paused(child.pid!);
      const summary = await h.close();
      expect(summary.probeStop).toBe('stop-request');
      expect(summary.lostEvents).toBe(0);
      expect(summary.malformedLines).toBe(0);
      const reads = ofKind(h.events, 'io').filter((e: EventOf<'io'>) => e.pid === child.pid && e.dir === 'in' && e.res?.fd?.path === file);
      expect(reads.reduce((n, e) => n + e.bytes, 0)).toBe(300);
      expect(reads.reduce((n, e) => n + e.calls, 0)).toBe(3);
    } finally {
      child.kill();
      await exited;
    }
  }, 120_000);
});
