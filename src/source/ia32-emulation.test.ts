import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ia32EmulationFrom } from './ia32-emulation.js';
import { renderProbe } from './probe-catalog.js';

const ON = 'CONFIG_X86_64=y\nCONFIG_IA32_EMULATION=y\n# CONFIG_X86_X32_ABI is not set\n';

describe('ia32 emulation', () => {
  it('reads the build configuration and the boot parameter as the kernel does', () => {
    expect(ia32EmulationFrom('quiet', ON)).toEqual({ enabled: true, why: 'CONFIG_IA32_EMULATION' });
    expect(ia32EmulationFrom('quiet', 'CONFIG_X86_64=y\n# CONFIG_IA32_EMULATION is not set\n').enabled).toBe(false);
    expect(ia32EmulationFrom('quiet', `${ON}CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y\n`).enabled).toBe(false);
    // the boot parameter overrides the built-in default either way (kstrtobool spellings)
    for (const v of ['0', 'n', 'N', 'no', 'off', 'false']) expect(ia32EmulationFrom(`quiet ia32_emulation=${v}`, ON).enabled, v).toBe(false);
    for (const v of ['1', 'y', 'yes', 'on', 'true']) expect(ia32EmulationFrom(`ia32_emulation=${v} quiet`, `${ON}CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y\n`).enabled, v).toBe(true);
    // but not a kernel built without it, and not an argument meant for init (after a lone --)
    expect(ia32EmulationFrom('ia32_emulation=1', 'CONFIG_X86_64=y\n').enabled).toBe(false);
    expect(ia32EmulationFrom('quiet -- ia32_emulation=0', ON).enabled).toBe(true);
    // nothing readable: assume the case that needs the program
    expect(ia32EmulationFrom(undefined, undefined)).toEqual({ enabled: true, why: 'kernel configuration not readable: assumed enabled' });
    expect(ia32EmulationFrom('ia32_emulation=0', undefined).enabled).toBe(false);
  });

  it('never throws on any command line or configuration text', () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: undefined }), fc.option(fc.string(), { nil: undefined }), (cmdline, config) => {
        const r = ia32EmulationFrom(cmdline, config);
        expect(typeof r.enabled).toBe('boolean');
        expect(r.why.length).toBeGreaterThan(0);
      }),
    );
  });

  it('the probe keeps its raw_syscalls program only while 32-bit syscalls are possible; the digest is of the shipped file either way', () => {
    const on = renderProbe({ mode: 'host' }, []);
    const off = renderProbe({ mode: 'host' }, [], undefined, undefined, false);
    expect(on.script).toContain('tracepoint:raw_syscalls:sys_enter');
    expect(off.script).not.toContain('raw_syscalls');
    expect(off.script).not.toContain('printf("I32');
    // the cleanups still name @i32, which BEGIN defines
    expect(off.script).toContain('delete(@i32[tid])');
    expect(off.script).toContain('@i32[0] = 0;');
    expect(off.probes).toEqual(on.probes);
    expect(off.renderedSha256).not.toBe(on.renderedSha256);
  });
});
