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
  TASK: { nums: ['ts', 'cgroup', 'pid', 'tid', 'ppid', 'arg_start'], str: 'comm' },
  FORK: { nums: ['ts', 'cgroup', 'pid', 'tid', 'child_tid', 'clone_flags'], str: null },
  /** A path of a rename, link or symlink (index 0 the old name, 1 the new), printed before its PATH2. */
  S: { nums: ['ts', 'cgroup', 'pid', 'tid', 'index'], str: 'value' },
  /** An exec argument, printed when execve is entered (index -1: more than the probe reads); matched to its EXEC by time (decode/exec-args.ts). */
  A: { nums: ['ts', 'cgroup', 'pid', 'tid', 'index'], str: 'value' },
  EXEC: { nums: ['ts', 'cgroup', 'pid', 'tid', 'old_tid', 'ppid', 'exe_dev', 'exe_ino'], str: 'filename' },
  COMM: { nums: ['ts', 'cgroup', 'pid', 'tid'], str: 'comm' },
  EXIT: { nums: ['ts', 'cgroup', 'pid', 'tid', 'code', 'group_dead'], str: null },
  OPEN: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'dirfd', 'flags', 'mode', 'ret', 'dev', 'ino', 'imode'],
    str: 'path',
  },
  OPENH: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'mount_fd', 'flags', 'ret', 'dev', 'ino', 'imode', 'handle_type', 'handle_bytes', 'w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9'],
    str: null,
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
  /** pidfd_getfd: the pidfd, the target's fd, the target process (-1: unknown), the new fd or -errno, its dev and ino. */
  GETFD: { nums: ['ts', 'cgroup', 'pid', 'tid', 'pidfd', 'target_fd', 'target', 'ret', 'dev', 'ino'], str: null },
  /** dir: 1 sent, 0 received, 2 received close-on-exec (recvmsg with MSG_CMSG_CLOEXEC); family: the descriptor's socket family (AF_*), 0 when it is no socket. */
  RIGHTS: { nums: ['ts', 'cgroup', 'pid', 'tid', 'dir', 'sock_fd', 'index', 'count', 'fd', 'dev', 'ino', 'family'], str: null },
  IO: { nums: ['ts', 'cgroup', 'pid', 'tid', 'slot', 'nr', 'fd', 'ret', 'dev', 'ino'], str: null },
  RUN: { nums: ['ts', 'cgroup', 'pid', 'tid', 'slot', 'nr', 'fd', 'fd2', 'calls', 'bytes', 'ts_first'], str: null },
  /** The first read of a run, kept by the probe and printed before the process' next record (same fields as IO). */
  IOD: { nums: ['ts', 'cgroup', 'pid', 'tid', 'slot', 'nr', 'fd', 'ret', 'dev', 'ino'], str: null },
  /** A kept first read, the rest of its run and the fd's close, when nothing else of the process came between. */
  RDCL: {
    nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'fd', 'ret', 'dev', 'ino', 'calls', 'bytes', 'ts_first', 'ts_last', 'close_ts', 'close_ret'],
    str: null,
  },
  /** detail: the intent name, a TAB, then the filename or ADDR:PORT. */
  KILL: { nums: ['ts', 'cgroup', 'pid', 'tid', 'what'], str: 'detail' },
  /** process_vm_readv / process_vm_writev: the target process and the bytes moved (or -errno). */
  PVM: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'target', 'ret'], str: null },
  /** The first 32-bit (ia32) syscall of a thread: its i386 number. */
  I32: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr'], str: null },
  /** ptrace peeks and pokes of another process' memory: the request (1, 2 peek; 4, 5 poke), the target, the bytes (a run's first word, then the sum of the rest). */
  PTR: { nums: ['ts', 'cgroup', 'pid', 'tid', 'request', 'target', 'bytes'], str: null },
  /** An io_uring open's path, printed at its submission (req: the request's address, cut to 44 bits). */
  UPATH: { nums: ['ts', 'cgroup', 'pid', 'tid', 'req'], str: 'path' },
  /** An io_uring open's completion: joined with its UPATH by req. */
  UOPEN: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'req', 'dirfd', 'flags', 'mode', 'ret', 'dev', 'ino', 'imode'], str: null },
  /** The summed rest of an io_uring run (slot 3 in, 4 out; completions after the first, on one object). */
  URUN: { nums: ['ts', 'cgroup', 'pid', 'tid', 'slot', 'nr', 'calls', 'bytes', 'ts_first', 'dev', 'ino'], str: null },
  /** The destination of an io_uring send that names one (taken at submission, printed with the completion before its IO): the address as in-memory 32-bit words (w0 alone for IPv4). */
  UDEST: { nums: ['ts', 'cgroup', 'pid', 'tid', 'ret', 'dev', 'ino', 'family', 'port', 'w0', 'w1', 'w2', 'w3'], str: null },
  /** sendmmsg/recvmmsg that passed descriptors (SCM_RIGHTS), which the probe does not parse: reported as a lost event. */
  MCTL: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr'], str: null },
  NOARGS: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr'], str: null },
  XATTR: { nums: ['ts', 'cgroup', 'pid', 'tid', 'nr', 'fd', 'size', 'ret', 'dev', 'ino'], str: 'path' },
  /** An io_uring op the probe cannot follow (splice, accept, direct descriptors, …): reported as lost events. */
  UBLIND: { nums: ['ts', 'cgroup', 'pid', 'tid', 'op', 'ret'], str: null },
  /** A shared mapping (MAP_SHARED) made: its address, length, prot, flags, the fd (-1: anonymous) and the file's dev, ino (0 when anonymous). */
  MAP: { nums: ['ts', 'cgroup', 'pid', 'tid', 'addr', 'len', 'prot', 'flags', 'fd', 'dev', 'ino'], str: null },
  /** shmat: System V segment `shmid` of IPC namespace `ipc_ns` (its inode number) attached at `addr`, with shmat's flags. */
  SHMAT: { nums: ['ts', 'cgroup', 'pid', 'tid', 'shmid', 'addr', 'shmflg', 'ipc_ns'], str: null },
  /** munmap of a process that has shared mappings; shmdt (len 0: the segment attached at addr). */
  UNMAP: { nums: ['ts', 'cgroup', 'pid', 'tid', 'addr', 'len'], str: null },
  /** mremap of a process that has shared mappings: the old range, the new address and length. */
  REMAP: { nums: ['ts', 'cgroup', 'pid', 'tid', 'addr', 'old_len', 'new_addr', 'new_len'], str: null },
  /** A cgroup was removed (cgroup_rmdir): its id, not the remover's cgroup, is the second field. */
  CGRM: { nums: ['ts', 'cgroup'], str: null },
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
  /** The timestamp's decimal text when it has more than 15 digits (may exceed 2^53); else '' and n[0] is exact. */
  tsRaw: string;
}

export type RawParse =
  | { ok: true; rec: RawRecord }
  | { ok: false; reason: string };

/**
 * Record kinds by (length, first two and last characters): the kind is looked up
 * without cutting a new string out of every line, and what comes back is the
 * constant (internalized) name, so the decoders' table lookups stay fast.
 * Checked against the text before it is trusted.
 */
const KIND_BY_SHAPE = new Map<number, RawKind>();
let longestKind = 0;
const shapeOf = (len: number, first: number, second: number, last: number): number => ((len * 256 + first) * 256 + second) * 256 + last;
for (const k of Object.keys(RAW_LAYOUT) as RawKind[]) {
  const shape = shapeOf(k.length, k.charCodeAt(0), k.charCodeAt(k.length > 1 ? 1 : 0), k.charCodeAt(k.length - 1));
  if (KIND_BY_SHAPE.has(shape)) throw new Error(`raw-record: kinds ${KIND_BY_SHAPE.get(shape)} and ${k} share a shape; extend shapeOf`);
  KIND_BY_SHAPE.set(shape, k);
  longestKind = Math.max(longestKind, k.length);
}

function kindAt(data: string, from: number, to: number): RawKind | undefined {
  const n = to - from;
  if (n <= 0 || n > longestKind) return undefined;
  const k = KIND_BY_SHAPE.get(shapeOf(n, data.charCodeAt(from), data.charCodeAt(n > 1 ? from + 1 : from), data.charCodeAt(to - 1)));
  return k !== undefined && data.startsWith(k, from) ? k : undefined;
}

const TAB = 9;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const BACKSLASH = 92;
const LETTER_T = 116;
const LETTER_N = 110;
const NEWLINE = 10;

/** V8 cuts strings this long or longer out of their parent as views that keep the whole parent alive. */
const SLICE_MIN = 13;

/**
 * A copy of `s` that does not keep alive the text it was cut from. A slice
 * of a 64 KiB read holding one path would otherwise pin the whole read for
 * as long as the state keeps the path (measured: ~64 KB of heap per kept
 * path, against ~140 bytes for the copy). Concatenation then slicing makes
 * V8 flatten into a fresh string.
 */
export function detached(s: string): string {
  return ` ${s}`.slice(1);
}

/**
 * What parseRaw returns for a record still in JSON-escaped form whose
 * trailing string holds an escape other than \t and \n (or a bare quote):
 * not malformed, but the caller must unescape it with the JSON parser.
 */
const NEEDS_JSON = 'escaped record holds escapes other than \\t and \\n';
const NEEDS_UNESCAPE = /"|\\[^tn]/;

/**
 * Parses the `data` of one printf record. Never throws.
 *
 * `escaped`: `data` is still in its JSON-escaped form, where TAB and the
 * final newline appear as the two characters `\t` and `\n` (the decoder's
 * fast path for lines with no other escapes); fields are split on `\t` and
 * only the trailing string is unescaped.
 */
export function parseRawRecord(data: string, escaped = false, from = 0, to = data.length): RawParse {
  const rec = parseRaw(data, escaped, from, to);
  return typeof rec === 'string' ? { ok: false, reason: rec } : { ok: true, rec };
}

/**
 * The allocation-lean core of parseRawRecord: parses data[from, to) and
 * returns the record, or the reason it is malformed. With `into`, that
 * record is filled and returned (a decoder's scratch: valid until the next
 * call).
 */
export function parseRaw(data: string, escaped: boolean, from: number, to: number, into?: RawRecord): RawRecord | string {
  const sepLen = escaped ? 2 : 1;
  const len = escaped
    ? to - from >= 2 && data.charCodeAt(to - 2) === BACKSLASH && data.charCodeAt(to - 1) === LETTER_N ? to - 2 : to
    : to > from && data.charCodeAt(to - 1) === NEWLINE ? to - 1 : to;
  const sep = escaped ? '\\t' : '\t';
  let firstTab = data.indexOf(sep, from);
  if (firstTab >= len) firstTab = -1;
  const kindEnd = firstTab < 0 ? len : firstTab;
  const kind = kindAt(data, from, kindEnd);
  if (kind === undefined) {
    return `unknown record kind ${JSON.stringify(data.slice(from, kindEnd).slice(0, 32))}`;
  }
  const layout = RAW_LAYOUT[kind];
  const want = layout.nums.length;
  const n: number[] = into?.n ?? [];
  n.length = 0;
  let pos = firstTab + sepLen;
  let tsRaw = '';
  for (let i = 0; i < want; i++) {
    if (firstTab < 0 || pos > len) {
      return `${kind}: expected ${want} numeric fields, got ${i}`;
    }
    // one pass per field: optional '-', then digits up to the separator or the end
    let p = pos;
    let neg = false;
    if (data.charCodeAt(p) === MINUS) {
      neg = true;
      p++;
    }
    let v = 0;
    const digitsFrom = p;
    while (p < len) {
      const c = data.charCodeAt(p);
      if (c < ZERO || c > NINE) break;
      v = v * 10 + (c - ZERO);
      p++;
    }
    const atSep = p === len || (escaped ? data.charCodeAt(p) === BACKSLASH && data.charCodeAt(p + 1) === LETTER_T : data.charCodeAt(p) === TAB);
    if (p === digitsFrom || !atSep) {
      let end = data.indexOf(sep, pos);
      if (end < 0 || end > len) end = len;
      return `${kind}: field ${layout.nums[i]} is not an integer: ${JSON.stringify(data.slice(pos, end).slice(0, 32))}`;
    }
    // more than 15 digits may exceed 2^53: keep exactness through the decimal text
    if (p - digitsFrom > 15) {
      v = Number(data.slice(digitsFrom, p));
      if (i === 0) tsRaw = data.slice(digitsFrom, p);
    }
    n.push(neg ? -v : v);
    pos = p + sepLen;
  }
  let s = '';
  if (layout.str !== null) {
    if (pos > len) return `${kind}: missing ${layout.str}`;
    s = data.slice(pos, len);
    // escapes other than \t and \n (or a quote, which valid JSON never leaves bare) need the JSON parser
    if (escaped && (s.includes('\\') || s.includes('"'))) {
      if (NEEDS_UNESCAPE.test(s)) return NEEDS_JSON;
      s = s.replaceAll('\\t', '\t').replaceAll('\\n', '\n');
    }
  } else if (pos <= len) {
    return `${kind}: unexpected trailing data after ${want} fields`;
  }
  // the string outlives the read it came in (object paths, argv, comm stay in the state): never a view into that text
  if (s.length >= SLICE_MIN) s = detached(s);
  if (into === undefined) return { kind, n, s, tsRaw };
  into.kind = kind;
  into.s = s;
  into.tsRaw = tsRaw;
  return into;
}
