import { describe, expect, it } from 'vitest';
import { tracepointsOf } from './bpftrace-process.js';
import { renderProbe } from './probe-catalog.js';

/** Which kernel tracepoints bpftrace is shown (probes/events-cache.c keeps only these lines of the kernel's list). */
describe('tracepointsOf', () => {
  it('names every tracepoint of the rendered probe, once, including the cgroup watcher and multi-point probes', () => {
    const { script } = renderProbe({ mode: 'cgroup', path: '/sbx', ids: [7] }, []);
    const names = tracepointsOf(script)!;
    expect(names).toEqual([...new Set(names)].sort());
    // every attach point of the script, as bpftrace will look it up
    const attach = [...script.matchAll(/^tracepoint:[^{/]+/gm)].flatMap((m) => m[0].split(',').map((p) => p.trim().replace(/^tracepoint:/, '')));
    expect(attach.length).toBeGreaterThan(100);
    for (const a of attach) expect(names).toContain(a);
    expect(names).toContain('cgroup:cgroup_mkdir');
    expect(names).toContain('syscalls:sys_exit_openat2');
    expect(names).toContain('sched:sched_process_exec');
  });

  it('reads short forms and keeps names that only a comment mentions (one more line kept, nothing lost)', () => {
    expect(tracepointsOf('// see tracepoint:sched:sched_switch\nt:syscalls:sys_enter_read { }')).toEqual(['sched:sched_switch', 'syscalls:sys_enter_read']);
  });

  it('gives up (the whole list) on wildcards and raw tracepoints', () => {
    expect(tracepointsOf('tracepoint:syscalls:sys_enter_* { }')).toBeUndefined();
    expect(tracepointsOf('tracepoint:sys*:sys_enter_read { }')).toBeUndefined();
    expect(tracepointsOf('tracepoint:syscalls:sys_enter_read, rawtracepoint:sys_enter { }')).toBeUndefined();
    expect(tracepointsOf('BEGIN { printf("x"); }')).toEqual([]);
  });
});
