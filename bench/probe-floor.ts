import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderProbe } from '../src/source/probe-catalog.js';

/**
 * The floor under any bpftrace probe on syscall tracepoints on this
 * machine: the same workload timed while bpftrace holds programs that do
 * nothing at all, (a) on every tracepoint chainwatch's probe attaches and
 * (b) only on the exits of the four syscalls a tar-to-socket run needs
 * (openat, read, write, close). No probe can cost less than (b). Two
 * more show where the floor comes from: (c) one syscall exit alone (any
 * syscall tracepoint sends every syscall of every task down the kernel's
 * traced path) and (d) raw_syscalls:sys_enter alone, which a probe that
 * sees 32-bit syscalls needs where kprobes are not available.
 */
/** Every tracepoint the rendered core probe attaches. */
export function probeTracepoints(): string[] {
  const script = renderProbe({ mode: 'host' }, []).script;
  const tps = new Set<string>();
  for (const m of script.matchAll(/^(tracepoint:[a-z_0-9:]+(?:\s*,\s*tracepoint:[a-z_0-9:]+)*)/gm)) {
    for (const t of m[1]!.split(',')) tps.add(t.trim());
  }
  return [...tps];
}

/** Runs `fn` while bpftrace holds an empty program on each of `tracepoints`. */
export async function withEmptyPrograms<T>(tracepoints: string[], fn: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'cw-floor-'));
  const file = join(dir, 'floor.bt');
  writeFileSync(file, `BEGIN { printf("ATTACHED\\n"); }\n${tracepoints.map((t) => `${t} { }`).join('\n')}\n`);
  const child = spawn('bpftrace', [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ATTACHED') && resolve());
      child.once('exit', (code) => reject(new Error(`bpftrace exited (${code}) before attaching: ${err.slice(-500)}`)));
    });
    return await fn();
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
    rmSync(dir, { recursive: true, force: true });
  }
}
