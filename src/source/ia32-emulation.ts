import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/**
 * Whether the kernel runs 32-bit (ia32) system calls. They bypass the
 * syscalls:* tracepoints, so while it does, the probe keeps a program on
 * every syscall entry to report a watched thread's first one. A kernel
 * without ia32 emulation (not built in, or turned off with the
 * `ia32_emulation=` boot parameter, Linux 6.7+) needs no such program.
 */
export interface Ia32Emulation {
  enabled: boolean;
  /** What the answer rests on. */
  why: string;
}

/** kstrtobool: what the kernel reads as true and false on its command line. */
function kernelBool(v: string): boolean | undefined {
  const c = v.toLowerCase();
  switch (c[0]) {
    case 'y':
    case 't':
    case '1':
      return true;
    case 'n':
    case 'f':
    case '0':
      return false;
    case 'o':
      return c[1] === 'n' ? true : c[1] === 'f' ? false : undefined;
    default:
      return undefined;
  }
}

/**
 * Decides from the kernel's command line and build configuration (either
 * may be missing: then the answer is "enabled", the case that needs the
 * program). Pure, for tests.
 */
export function ia32EmulationFrom(cmdline: string | undefined, config: string | undefined): Ia32Emulation {
  if (config !== undefined) {
    if (!/^CONFIG_IA32_EMULATION=y$/m.test(config)) return { enabled: false, why: 'kernel built without CONFIG_IA32_EMULATION' };
  }
  // what follows a lone `--` is for init, not the kernel
  const kernelArgs = cmdline?.split(/\s--(?:\s|$)/)[0];
  const arg = kernelArgs === undefined ? undefined : /(?:^|\s)ia32_emulation=(\S+)/.exec(kernelArgs)?.[1];
  const onCmdline = arg === undefined ? undefined : kernelBool(arg);
  if (onCmdline !== undefined) return { enabled: onCmdline, why: `kernel command line ia32_emulation=${arg}` };
  if (config === undefined) return { enabled: true, why: 'kernel configuration not readable: assumed enabled' };
  if (/^CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y$/m.test(config)) return { enabled: false, why: 'CONFIG_IA32_EMULATION_DEFAULT_DISABLED' };
  return { enabled: true, why: 'CONFIG_IA32_EMULATION' };
}

function readOr(path: string, gz = false): string | undefined {
  try {
    const b = readFileSync(path);
    return (gz ? gunzipSync(b) : b).toString('utf8');
  } catch {
    return undefined;
  }
}

/** This kernel: /proc/cmdline, and its configuration from /proc/config.gz or /boot/config-RELEASE. */
export function ia32Emulation(): Ia32Emulation {
  const release = readOr('/proc/sys/kernel/osrelease')?.trim();
  const config = readOr('/proc/config.gz', true) ?? (release === undefined ? undefined : readOr(`/boot/config-${release}`));
  return ia32EmulationFrom(readOr('/proc/cmdline'), config);
}
