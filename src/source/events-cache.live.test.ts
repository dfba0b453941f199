import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BpftraceProcess, eventsCacheLibrary } from './bpftrace-process.js';

/**
 * probes/events-cache.c against the real bpftrace and kernel: bpftrace
 * attaches from an in-memory copy of the kernel's tracepoint list holding
 * exactly the script's tracepoints (as the kernel lists them), attaches the
 * same probes as without it, and a tracepoint the kernel lacks is refused as
 * before.
 */

/** Probes that read `args` (bpftrace looks their tracepoints up in the list only then). */
const SCRIPT = `
tracepoint:syscalls:sys_enter_getpgid, tracepoint:syscalls:sys_exit_getpgid { @n[args->__syscall_nr] = count(); }
tracepoint:sched:sched_process_exit { @e[args->pid] = count(); }
END { clear(@n); clear(@e); }
BEGIN { printf("HELLO\\t%lu\\t%d\\n", nsecs, pid); }
`;

const KERNEL_LIST = '/sys/kernel/tracing/available_events';

/** The fd bpftrace holds on the copy, and what the copy says. */
function copyHeldBy(pid: number): string | undefined {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target.startsWith('/memfd:chainwatch-available-events')) return readFileSync(`/proc/${pid}/fd/${fd}`, 'utf8');
  }
  return undefined;
}

async function started(script: string, eventsCache: boolean): Promise<{ bpf: BpftraceProcess; probes: number; done: Promise<void> }> {
  const bpf = new BpftraceProcess({ script, batch: false, eventsCache });
  const done = new Promise<void>((resolve, reject) => bpf.output$.subscribe({ error: reject, complete: resolve }));
  done.catch(() => undefined);
  const probes = await bpf.attached;
  return { bpf, probes, done };
}

describe('tracepoint list read once (events-cache)', () => {
  it('was built', () => {
    expect(eventsCacheLibrary(), 'dist/events-cache.so: npm run build compiles probes/events-cache.c (needs gcc)').toBeDefined();
  });

  it("attaches from a copy holding exactly the script's tracepoints, the same probes as without it", async () => {
    const cached = await started(SCRIPT, true);
    expect(cached.bpf.eventsCache?.keep).toEqual(['sched:sched_process_exit', 'syscalls:sys_enter_getpgid', 'syscalls:sys_exit_getpgid']);
    const copy = copyHeldBy(cached.bpf.pid!);
    cached.bpf.stop();
    await cached.done;
    expect(copy, 'bpftrace holds no chainwatch-available-events memfd: the library was not preloaded or bpftrace never read the list').toBeDefined();
    const kernel = readFileSync(KERNEL_LIST, 'utf8').split('\n');
    expect(copy!.split('\n').filter(Boolean).sort()).toEqual(kernel.filter((l) => cached.bpf.eventsCache!.keep!.includes(l)).sort());

    const plain = await started(SCRIPT, false);
    expect(plain.bpf.eventsCache).toBeUndefined();
    expect(copyHeldBy(plain.bpf.pid!)).toBeUndefined();
    plain.bpf.stop();
    await plain.done;
    expect(cached.probes).toBe(plain.probes);
    expect(cached.probes).toBe(5); // three tracepoints, BEGIN and END
  });

  it('refuses a tracepoint the kernel lacks, as bpftrace does without the copy', async () => {
    const bad = `${SCRIPT}\ntracepoint:syscalls:sys_enter_no_such_call { }\n`;
    await expect(started(bad, true)).rejects.toThrow(/bpftrace exited before attaching.*tracepoint not found: syscalls:sys_enter_no_such_call/);
  });
});
