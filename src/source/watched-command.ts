import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChainwatchError } from '../util/errors.js';

/**
 * `watch -- CMD ARGS…`: the command starts held (a shell blocked reading a
 * pipe on fd 3, which then execs CMD in the same pid) so the in-kernel pid
 * filter is in place before CMD's first syscall; `resume()` writes to the
 * pipe once the probes are attached. A pipe, not SIGSTOP: whether a stopped
 * child stays stopped depends on job control in whatever started us.
 */
export class WatchedCommand {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(argv: string[], stdoutToStderr: boolean) {
    if (argv.length === 0) throw new ChainwatchError('USAGE', 'watch --: no command given', { fix: 'chainwatch watch -- curl http://…' });
    this.child = spawn('/bin/sh', ['-c', 'read _ <&3; exec 3<&-; exec "$@"', 'chainwatch-cmd', ...argv], {
      stdio: ['inherit', stdoutToStderr ? process.stderr : 'inherit', 'inherit', 'pipe'],
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      this.child.once('error', (e) => reject(new ChainwatchError('USAGE', `cannot start ${argv[0]}: ${e.message}`)));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits until the wrapper is blocked on its pipe (sleeping in /proc). */
  async held(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        const wchan = readFileSync(`/proc/${this.pid}/wchan`, 'utf8');
        if (state === 'S' && wchan !== '0' && wchan !== '') return;
      } catch {
        break;
      }
      await sleep(2);
    }
    throw new ChainwatchError('USAGE', 'the watched command did not start', { fix: 'check that /bin/sh exists' });
  }

  resume(): void {
    const gate = this.child.stdio[3] as NodeJS.WritableStream;
    gate.end('go\n');
  }
}
