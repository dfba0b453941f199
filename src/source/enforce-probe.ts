import { readdirSync, statSync } from 'node:fs';
import picomatch from 'picomatch';
import type { EffectivePolicy, NetCap } from '../schema/policy.js';
import { kernelDevOfStat } from '../util/obj-id.js';

/**
 * In-kernel enforcement of the policy's single-event hard denies, rendered
 * into the probe (bpftrace `signal("KILL")`, which needs `--unsafe`) for
 * intents with `on_violation: kill`:
 *
 * - exec: at `sched_process_exec` (first thing in the probe's own block, so
 *   the KILL record comes before the EXEC record), a loaded image (by kernel dev and inode)
 *   that no exec capability allows: the kill lands before the new program
 *   runs a single instruction;
 * - connect: at `sys_enter_connect`, an IPv4 destination no network
 *   capability with `connect` allows (the process dies before it can send).
 *
 * Only what bpftrace can decide exactly is compiled: executables by identity
 * (the files the exec globs match at start), IPv4 CIDRs and port ranges.
 * IPv6 and unix destinations, opens, sends, flows and limits stay with user
 * space (listed in `notInKernel`). Each kill prints a KILL record, so the
 * finding says what the kernel did.
 */
export interface Enforcement {
  /** bpftrace text appended to the probe. */
  script: string;
  /** Statements placed first in the probe's sched_process_exec block (ENFORCE_EXEC). */
  execCheck: string;
  /** Statements for BEGIN: `@intent[CGROUP_ID] = N;` for sandboxes that exist now. */
  seed: string[];
  /** What stays with user space, in words (logged at start). */
  notInKernel: string[];
  /** Intent names by number (the probe's @intent values are 1-based indexes). */
  intents: string[];
}

/**
 * Executables an exec capability allows that exist now, as kernel (dev, inode)
 * pairs: checking the image the kernel loaded is immune to `..`, symlink and
 * PATH tricks. A binary that appears later under an allowed glob is not in
 * the set (the kernel kills it; documented).
 */
export function allowedExecutables(globs: string[]): { dev: bigint; ino: bigint; path: string }[] {
  const out: { dev: bigint; ino: bigint; path: string }[] = [];
  const isMatch = picomatch(globs, { dot: true });
  const seen = new Set<string>();
  const roots = new Set(globs.map((g) => g.slice(0, Math.max(1, g.search(/[*?[{]/) === -1 ? g.length : g.lastIndexOf('/', g.search(/[*?[{]/))))));
  const visit = (path: string, depth: number): void => {
    let st;
    try {
      st = statSync(path, { bigint: true });
    } catch {
      return;
    }
    if (st.isDirectory()) {
      if (depth > 6) return;
      let names: string[] = [];
      try {
        names = readdirSync(path);
      } catch {
        return;
      }
      for (const n of names) visit(path === '/' ? `/${n}` : `${path}/${n}`, depth + 1);
      return;
    }
    if (!st.isFile() || !isMatch(path)) return;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ dev: kernelDevOfStat(st.dev), ino: st.ino, path });
  };
  for (const r of roots) visit(r, 0);
  return out;
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
}

/** One network capability as a bpftrace condition on $a (IPv4, host order) and $p (port), or undefined. */
function netCondition(c: NetCap): string {
  if (!c.ops.includes('connect')) return '0';
  if (c.family === 'unix' || c.family === 'inet6') return '0';
  if (c.unix_paths !== undefined && c.cidrs === undefined && c.ports === undefined) return '0';
  const parts: string[] = [];
  if (c.cidrs !== undefined) {
    const nets: string[] = [];
    for (const cidr of c.cidrs) {
      const [addr, bits] = cidr.split('/');
      if (addr!.includes(':')) continue; // IPv6: not for an IPv4 connect
      const b = bits === undefined ? 32 : Number(bits);
      const mask = b === 0 ? 0 : (0xffffffff << (32 - b)) >>> 0;
      nets.push(`($a & ${mask}) == ${(ipv4ToInt(addr!) & mask) >>> 0}`);
    }
    if (nets.length === 0) return '0';
    parts.push(`(${nets.join(' || ')})`);
  }
  if (c.ports !== undefined) {
    parts.push(`(${c.ports.map((p) => (typeof p === 'number' ? `$p == ${p}` : `($p >= ${p.split('-')[0]} && $p <= ${p.split('-')[1]})`)).join(' || ')})`);
  }
  return parts.length === 0 ? '1' : parts.join(' && ');
}

/** `/sandboxes/browse-*` → `/sandboxes/browse-` (a prefix bpftrace can test exactly), else undefined. */
export function manifestPrefix(glob: string): string | undefined {
  const body = glob.endsWith('*') && !glob.endsWith('**') ? glob.slice(0, -1) : undefined;
  if (body === undefined || /[*?[\]{}()!]/.test(body) || !/^\/[A-Za-z0-9._@:+=,\/-]*$/.test(body) || body.length > 60) return undefined;
  return body;
}

/**
 * Renders the enforcement for the intents with on_violation: kill.
 * `cgroups`: the cgroups that exist now (id and path below the v2 mount),
 * mapped to intents by the manifest (first match) for the BEGIN seed; cgroups
 * made later are mapped in the kernel by the manifest's `PREFIX*` patterns,
 * in manifest order.
 */
export function renderEnforcement(policy: EffectivePolicy, cgroups: { id: number; path: string }[]): Enforcement {
  const intents = Object.keys(policy.intents).filter((n) => policy.intents[n]!.on_violation === 'kill');
  const number = (name: string): number => intents.indexOf(name) + 1 || 999; // 999: mapped, not enforced
  const out: string[] = [];
  const seed: string[] = ['@intent[0] = 0;', '@allowexec[0, 0, 0] = 0;'];
  const notInKernel: string[] = [];
  const cgEntries = policy.manifest.filter((m) => m.cgroup !== undefined);
  if (policy.manifest.some((m) => m.task !== undefined)) notInKernel.push('manifest entries by task name (the kernel knows cgroups, not task names)');
  for (const cg of cgroups) {
    const m = cgEntries.find((e) => picomatch.isMatch(cg.path, e.cgroup!, { dot: true }));
    if (m !== undefined && intents.includes(m.intent)) seed.push(`@intent[${cg.id}] = ${number(m.intent)};`);
  }
  const mkdir: string[] = [];
  const execChecks: string[] = [];
  for (const m of cgEntries) {
    const prefix = manifestPrefix(m.cgroup!);
    if (prefix === undefined) {
      if (intents.includes(m.intent)) notInKernel.push(`${m.intent}: sandboxes matching ${m.cgroup} made after start (only PREFIX* patterns are mapped in the kernel)`);
      continue;
    }
    mkdir.push(`if (@intent[args->id] == 0 && strncmp(str(args->path), "${prefix}", ${prefix.length}) == 0) { @intent[args->id] = ${number(m.intent)}; }`);
  }
  intents.forEach((name, i) => {
    const n = i + 1;
    const intent = policy.intents[name]!;
    // exec: the loaded image must be one the intent allows (by kernel identity)
    const allowed = allowedExecutables(intent.exec.flatMap((c) => c.paths));
    for (const x of allowed) seed.push(`@allowexec[${n}, ${x.dev}, ${x.ino}] = 1;`);
    if (intent.exec.some((c) => c.sha256 !== undefined)) notInKernel.push(`${name}: exec digests (checked in user space)`);
    if (intent.exec.some((c) => c.args !== undefined)) notInKernel.push(`${name}: exec arguments (checked in user space)`);
    // inside the probe's own sched_process_exec block, first: the KILL record precedes the EXEC record
    execChecks.push(
      `if (@intent[cgroup] == ${n}) { $ke = curtask->mm->exe_file->f_inode; if (@allowexec[${n}, (uint64)$ke->i_sb->s_dev, (uint64)$ke->i_ino] == 0) { signal("KILL"); printf("KILL\\t%lu\\t%lu\\t%d\\t%d\\t1\\t${name}\\t%s\\n", HDR, str(args->filename)); } }`,
    );
    // connect (IPv4)
    const nets = intent.network.map(netCondition).filter((c): c is string => c !== undefined);
    out.push(
      `tracepoint:syscalls:sys_enter_connect /@intent[cgroup] == ${n}/ { $sa = (struct sockaddr_in *)uptr(args->uservaddr); if ($sa->sin_family == 2) { $a = (uint64)bswap($sa->sin_addr.s_addr); $p = (uint64)bswap($sa->sin_port); if (!(${nets.length > 0 ? nets.join(' || ') : '0'})) { signal("KILL"); printf("KILL\\t%lu\\t%lu\\t%d\\t%d\\t2\\t${name}\\t%s:%d\\n", HDR, ntop(2, $sa->sin_addr.s_addr), $p); } } }`,
    );
    notInKernel.push(`${name}: IPv6 and unix connects, opens, sends, flows and limits (user space)`);
  });
  if (mkdir.length > 0 && intents.length > 0) {
    out.push(`tracepoint:cgroup:cgroup_mkdir /args->root == 0/ { ${mkdir.join(' ')} }`);
    // a removed sandbox leaves the map: it never fills up and leaves later sandboxes without their intent in the kernel
    out.push(`tracepoint:cgroup:cgroup_rmdir /args->root == 0 && @intent[args->id] != 0/ { delete(@intent[args->id]); }`);
  }
  const hdr = (t: string): string => t.replaceAll('HDR', 'nsecs, cgroup, pid, tid');
  return { script: `${hdr(out.join('\n'))}\n`, execCheck: hdr(execChecks.join(' ')), seed, notInKernel, intents };
}
