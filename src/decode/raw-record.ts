/**
 * Raw probe records: one bpftrace `printf` each, TAB-separated, as documented
 * at the top of probes/chainwatch.bt. This table is the single description of
 * each record's fields; the parser checks every line against it.
 *
 * Every record starts with `ts cgroup pid tid` except the liveness records
 * (HELLO, TICK, BYE). `str` names the trailing attacker-controlled string,
 * which may contain TABs: the parser splits off exactly the numeric fields and
 * keeps the rest verbatim.
 */
export const RAW_LAYOUT = {
  HELLO: { nums: ['ts', 'bpftrace_pid'], str: null },
  TICK: { nums: ['ts'], str: null },
  BYE: { nums: ['ts'], str: null },
  TASK: { nums: ['ts', 'cgroup', 'pid', 'tid', 'ppid'], str: 'comm' },
  FORK: { nums: ['ts', 'cgroup', 'pid', 'tid', 'child_tid', 'clone_flags'], str: null },
  S: { nums: ['ts', 'cgroup', 'pid', 'tid', 'index'], str: 'value' },
  EXEC: { nums: ['ts', 'cgroup', 'pid', 'tid', 'old_tid', 'ppid', 'exe_dev', 'exe_ino'], str: 'filename' },
  COMM: { nums: ['ts', 'cgroup', 'pid', 'tid'], str: 'comm' },
  EXIT: { nums: ['ts', 'cgroup', 'pid', 'tid', 'code', 'group_dead'], str: null },
  OPEN: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'dirfd', 'flags', 'mode', 'ret', 'dev', 'ino', 'imode'],
    str: 'path',
  },
  MEMFD: { nums: ['ts', 'cgroup', 'pid', 'tid', 'flags', 'ret', 'dev', 'ino'], str: 'name' },
  PATH2: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'old_dirfd', 'new_dirfd', 'flags', 'ret'], str: null },
  UNLINK: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'dirfd', 'flags', 'ret'], str: 'path' },
  CHDIR: { nums: ['ts', 'cgroup', 'pid', 'tid', 'ret'], str: 'path' },
  FCHDIR: { nums: ['ts', 'cgroup', 'pid', 'tid', 'fd', 'ret'], str: null },
  DUP: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'oldfd', 'newfd', 'flags', 'ret'], str: null },
  FCNTL: { nums: ['ts', 'cgroup', 'pid', 'tid', 'fd', 'cmd', 'arg', 'ret'], str: null },
  CLOSE: { nums: ['ts', 'cgroup', 'pid', 'tid', 'fd', 'ret'], str: null },
  CLOSERANGE: { nums: ['ts', 'cgroup', 'pid', 'tid', 'first', 'last', 'flags', 'ret'], str: null },
  PIPE: { nums: ['ts', 'cgroup', 'pid', 'tid', 'flags', 'ret', 'fd0', 'fd1', 'dev', 'ino'], str: null },
  SOCK: { nums: ['ts', 'cgroup', 'pid', 'tid', 'family', 'type', 'protocol', 'ret', 'dev', 'ino'], str: null },
  SOCKPAIR: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'family', 'type', 'ret', 'fd0', 'fd1', 'dev', 'ino0', 'ino1'],
    str: null,
  },
  ADDR: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'fd', 'ret', 'dev', 'ino', 'family', 'port', 'peer_ino'],
    str: 'addr',
  },
  ACCEPT: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'listen_fd', 'ret', 'dev', 'ino', 'family', 'peer_port', 'local_port', 'peer_ino'],
    str: 'peer_addr',
  },
  DEST: { nums: ['ts', 'cgroup', 'pid', 'tid', 'fd', 'ret', 'family', 'port'], str: 'addr' },
  RIGHTS: { nums: ['ts', 'cgroup', 'pid', 'tid', 'dir', 'sock_fd', 'index', 'count', 'fd', 'dev', 'ino'], str: null },
  IO: { nums: ['ts', 'cgroup', 'pid', 'tid', 'slot', 'nr', 'fd', 'ret', 'dev', 'ino'], str: null },
  RUN: { nums: ['ts', 'cgroup', 'pid', 'tid', 'slot', 'nr', 'fd', 'fd2', 'calls', 'bytes', 'ts_first'], str: null },
  XFER: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'fd_in', 'fd_out', 'ret', 'in_dev', 'in_ino', 'out_dev', 'out_ino'],
    str: null,
  },
} as const satisfies Record<string, { nums: readonly string[]; str: string | null }>;

export type RawKind = keyof typeof RAW_LAYOUT;

/** A parsed record: `n` holds the numeric fields in layout order, `s` the trailing string. */
export interface RawRecord {
  kind: RawKind;
  n: number[];
  s: string;
  /** Raw monotonic ns as printed (a decimal string; may exceed 2^53). */
  tsRaw: string;
}

export type RawParse =
  | { ok: true; rec: RawRecord }
  | { ok: false; reason: string };

const DIGITS = /^-?\d+$/;

/** Parses the `data` of one printf record. Never throws. */
export function parseRawRecord(data: string): RawParse {
  const body = data.endsWith('\n') ? data.slice(0, -1) : data;
  const firstTab = body.indexOf('\t');
  const kind = (firstTab < 0 ? body : body.slice(0, firstTab)) as RawKind;
  const layout = Object.hasOwn(RAW_LAYOUT, kind) ? RAW_LAYOUT[kind] : undefined;
  if (layout === undefined) {
    return { ok: false, reason: `unknown record kind ${JSON.stringify(kind.slice(0, 32))}` };
  }
  const want = layout.nums.length;
  const n: number[] = new Array<number>(want);
  let pos = firstTab + 1;
  let tsRaw = '';
  for (let i = 0; i < want; i++) {
    if (firstTab < 0 || pos > body.length) {
      return { ok: false, reason: `${kind}: expected ${want} numeric fields, got ${i}` };
    }
    let end = body.indexOf('\t', pos);
    if (end < 0) end = body.length;
    const field = body.slice(pos, end);
    if (!DIGITS.test(field)) {
      return { ok: false, reason: `${kind}: field ${layout.nums[i]} is not an integer: ${JSON.stringify(field.slice(0, 32))}` };
    }
    if (i === 0) tsRaw = field;
    n[i] = Number(field);
    pos = end + 1;
  }
  let s = '';
  if (layout.str !== null) {
    if (pos > body.length) return { ok: false, reason: `${kind}: missing ${layout.str}` };
    s = body.slice(pos);
  } else if (pos <= body.length) {
    return { ok: false, reason: `${kind}: unexpected trailing data after ${want} fields` };
  }
  return { ok: true, rec: { kind, n, s, tsRaw } };
}

/** Field accessor by name (used outside the hot path, e.g. tests and docs). */
export function field(rec: RawRecord, name: string): number | undefined {
  const i = (RAW_LAYOUT[rec.kind].nums as readonly string[]).indexOf(name);
  return i < 0 ? undefined : rec.n[i];
}
