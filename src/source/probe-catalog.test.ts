import { describe, expect, it } from 'vitest';
import { expandMacros, renderProbe } from './probe-catalog.js';

describe('probe rendering', () => {
  it('expands macros in order, macro bodies using earlier macros, and drops the #define lines', () => {
    expect(expandMacros('#define A 1\n#define B (A + A)\nx = B; AB = A;')).toBe('x = (1 + 1); AB = 1;');
  });

  it('puts the scope filter in the kernel and records digests', () => {
    const host = renderProbe({ mode: 'host' }, [4242]);
    expect(host.script).not.toMatch(/^#define/m);
    expect(host.script).not.toMatch(/\bWATCHED\b|\bHDR\b|\bSEEN\b|\bFLUSH\b/);
    expect(host.script).toContain('@ex[4242] = 1;');
    expect(host.script).toContain('/(@ex[pid] == 0)/');
    expect(host.renderedSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(host.probes[0]!.file).toBe('probes/chainwatch.bt');
    const pid = renderProbe({ mode: 'pid', pids: [10, 11] }, []);
    expect(pid.script).toContain('@w[10] = 1; @w[11] = 1;');
    expect(pid.renderedSha256).not.toBe(host.renderedSha256);
    const cg = renderProbe({ mode: 'cgroup', path: '/sbx/a', ids: [77, 78] }, []);
    expect(cg.script).toContain('@cg[77] = 1; @cg[78] = 1;');
    expect(cg.script).toContain('strncmp(str(args->path), "/sbx/a/", 7) == 0');
  });

  it('keeps programs on tracepoints a newer kernel adds only where the kernel has them (the *xattrat calls, Linux 6.13)', () => {
    const asked: string[] = [];
    const old = renderProbe({ mode: 'host' }, [], undefined, undefined, true, (tp) => (asked.push(tp), false));
    expect(asked).toEqual(['syscalls:sys_enter_setxattrat']);
    expect(old.script).not.toMatch(/tracepoint:syscalls:sys_(enter|exit)_(set|get)xattrat/);
    expect(old.script).not.toMatch(/@if-tracepoint|@end-if/);
    // the classic calls stay either way
    expect(old.script).toContain('tracepoint:syscalls:sys_exit_fsetxattr');
    const recent = renderProbe({ mode: 'host' }, [], undefined, undefined, true, () => true);
    expect(recent.script).toContain('tracepoint:syscalls:sys_enter_setxattrat, tracepoint:syscalls:sys_enter_getxattrat');
    expect(recent.script).not.toMatch(/@if-tracepoint|@end-if/);
  });

  it('refuses a cgroup path that could break out of the script', () => {
    expect(() => renderProbe({ mode: 'cgroup', path: '/x"); system("id', ids: [1] }, [])).toThrow(/characters chainwatch does not accept/);
  });
});
