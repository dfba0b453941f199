import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChainwatchError } from '../util/errors.js';
import { packageDir } from '../util/package-dir.js';

/** What the probes watch, decided in the kernel. */
export type WatchScope =
  | { mode: 'host' }
  /** A cgroup v2 subtree: `ids` are the inode numbers of the subtree's directories now; `path` is relative to the v2 mount. */
  | { mode: 'cgroup'; path: string; ids: number[] }
  /** Processes and all their descendants. */
  | { mode: 'pid'; pids: number[] };

export interface RenderedProbe {
  script: string;
  /** SHA-256 of each probe source file. */
  probes: { file: string; sha256: string }[];
  /** SHA-256 of the exact script handed to bpftrace. */
  renderedSha256: string;
}

export const CORE_PROBE = 'chainwatch.bt';

/** The probes/ folder of this installation (works from src/ under vitest and from dist/). */
export function probesDir(): string {
  const dir = packageDir('probes', CORE_PROBE);
  if (dir !== undefined) return dir;
  throw new ChainwatchError('PROBE_START', `cannot find probes/${CORE_PROBE}`, {
    fix: 'run chainwatch from its installation (the probes/ folder ships next to dist/)',
  });
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

const SAFE_CGROUP_PATH = /^\/[A-Za-z0-9._@:+=,\/-]*$/;

/** Whether tracefs lists tracepoint `CATEGORY:NAME` (mounted at /sys/kernel/tracing, or under debugfs). */
export function tracepointExists(tp: string): boolean {
  const [category, name] = tp.split(':');
  if (category === undefined || name === undefined) return false;
  return ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].some((root) => existsSync(join(root, 'events', category, name)));
}

/**
 * Expands the probe file's `#define NAME BODY` lines itself (bpftrace 0.17
 * expands macros only in expression position), prepends the scope filter as
 * `WATCHED`, and appends the BEGIN block that seeds the filter maps.
 */
export function renderProbe(
  scope: WatchScope,
  excludePids: number[],
  source?: string,
  enforcement?: { script: string; execCheck: string; seed: string[] },
  /** Keep the program that reports 32-bit syscalls (false: the kernel runs none, see ia32-emulation.ts). */
  ia32Check = true,
  /** Whether the kernel has a tracepoint (`syscalls:sys_enter_setxattrat`): tracefs says. */
  hasTracepoint: (tp: string) => boolean = tracepointExists,
): RenderedProbe {
  const file = join(probesDir(), CORE_PROBE);
  const full = source ?? readFileSync(file, 'utf8');
  // the one program on every syscall entry goes when there are no 32-bit syscalls to report
  const withIa32 = ia32Check ? full : full.replace(/^\/\/ @ia32-begin[^\n]*\n[\s\S]*?^\/\/ @ia32-end\n/m, '');
  // programs on tracepoints newer kernels add (`// @if-tracepoint CATEGORY:NAME` … `// @end-if`): kept where the kernel has them
  const text = withIa32.replace(/^\/\/ @if-tracepoint (\S+)\n([\s\S]*?)^\/\/ @end-if\n/gm, (_, tp: string, body: string) => (hasTracepoint(tp) ? body : ''));
  // @i32 is defined here too: the thread-exit and END cleanups name it with or without its program
  const seed: string[] = ['@w[0] = 0;', '@cg[0] = 0;', '@ex[0] = 0;', '@ex[pid] = 1;', '@i32[0] = 0;'];
  for (const p of excludePids) seed.push(`@ex[${int(p)}] = 1;`);
  let watched: string;
  let extra = '';
  switch (scope.mode) {
    case 'host':
      watched = '(@ex[pid] == 0)';
      break;
    case 'pid':
      watched = '(@w[pid] == 1)';
      for (const p of scope.pids) seed.push(`@w[${int(p)}] = 1;`);
      break;
    case 'cgroup': {
      if (!SAFE_CGROUP_PATH.test(scope.path)) {
        throw new ChainwatchError('USAGE', `cgroup path ${JSON.stringify(scope.path)} has characters chainwatch does not accept`, {
          fix: 'name the cgroup with letters, digits and ._@:+=,- only',
        });
      }
      watched = '(@cg[cgroup] == 1 || @w[pid] == 1)';
      for (const id of scope.ids) seed.push(`@cg[${int(id)}] = 1;`);
      const prefix = scope.path === '/' ? '/' : `${scope.path}/`;
      // cgroups made later below the watched one are watched too; a removed one leaves the map, which would
      // otherwise fill up (BPFTRACE_MAP_KEYS_MAX) after that many sandboxes and silently leave new ones unwatched
      extra =
        `tracepoint:cgroup:cgroup_mkdir /args->root == 0 && strncmp(str(args->path), "${prefix}", ${prefix.length}) == 0/ { @cg[args->id] = 1; }\n` +
        `tracepoint:cgroup:cgroup_rmdir /args->root == 0 && strncmp(str(args->path), "${prefix}", ${prefix.length}) == 0/ { delete(@cg[args->id]); }\n`;
      break;
    }
  }
  if (enforcement) seed.push(...enforcement.seed);
  const script =
    expandMacros(`#define WATCHED ${watched}\n#define ENFORCE_EXEC ${enforcement?.execCheck ?? ''}\n${text}`) +
    '\n' +
    extra +
    (enforcement?.script ?? '') +
    `BEGIN { ${seed.join(' ')} printf("HELLO\\t%lu\\t%d\\n", nsecs, pid); }\n`;
  return { script, probes: [{ file: `probes/${CORE_PROBE}`, sha256: sha256(full) }], renderedSha256: sha256(script) };
}

function int(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new ChainwatchError('USAGE', `not a valid id: ${n}`);
  return n;
}

/** Whole-word, in-order macro expansion; macro bodies may use earlier macros. Removes the #define lines. */
export function expandMacros(text: string): string {
  const defs: [RegExp, string][] = [];
  const out: string[] = [];
  const expand = (line: string): string => defs.reduce((l, [re, body]) => l.replace(re, () => body), line);
  for (const line of text.split('\n')) {
    const m = /^#define (\w+) (.*)$/.exec(line);
    if (m) {
      defs.push([new RegExp(`\\b${m[1]}\\b`, 'g'), expand(m[2]!)]);
      continue;
    }
    out.push(expand(line));
  }
  return out.join('\n');
}
