/**
 * One line of sysdig's text output in the layout LID-DS uses and that
 * `sysdig -r FILE -p "%evt.rawtime %user.uid %proc.pid %proc.name
 * %thread.tid %evt.type %evt.dir %evt.args"` prints:
 *
 *   1631078867467701544 33 2902774 apache2 2902774 accept < fd=12(<4t>1.2.3.4:5->6.7.8.9:443) tuple=…
 *
 * Arguments are `name=value` pairs separated by spaces; a value may itself
 * hold spaces (an environment, a data excerpt), so a new argument starts only
 * at ` name=` where name is a lowercase identifier.
 */
export interface SysdigRecord {
  /** Wall-clock ns since 1970. */
  ts: bigint;
  uid: number;
  pid: number;
  comm: string;
  tid: number;
  type: string;
  dir: '>' | '<';
  args: Map<string, string>;
}

const HEAD = /^(\d{1,20}) (\d+) (\d+) (.+?) (\d+) (\S+) ([<>])(?: (.*))?$/;
const ARG_START = /(?:^| )([a-z_][a-z_0-9]*)=/g;

/** Parses one line, or returns the reason it is not a sysdig event line. */
export function parseSysdigLine(line: string): SysdigRecord | string {
  const m = HEAD.exec(line.trimEnd());
  if (m === null) return 'not "rawtime uid pid comm tid type dir args"';
  const [, ts, uid, pid, comm, tid, type, dir, rest] = m;
  const args = new Map<string, string>();
  if (rest !== undefined && rest.length > 0) {
    const starts: { name: string; at: number; valueAt: number }[] = [];
    for (const a of rest.matchAll(ARG_START)) starts.push({ name: a[1]!, at: a.index, valueAt: a.index + a[0].length });
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i]!;
      const end = i + 1 < starts.length ? starts[i + 1]!.at : rest.length;
      // the first value wins: a later `name=` inside a free-text value must not overwrite a real argument
      if (!args.has(s.name)) args.set(s.name, rest.slice(s.valueAt, end));
    }
  }
  return { ts: BigInt(ts!), uid: Number(uid), pid: Number(pid), comm: comm!, tid: Number(tid), type: type!, dir: dir as '>' | '<', args };
}

/** `12(<4t>1.2.3.4:5->6.7.8.9:443)` → number 12, kind `4t`, name `1.2.3.4:5->…`; `-2(ENOENT)` → -2. */
export interface FdArg {
  num: number;
  /** sysdig's fd type letter(s): f file, d directory, 4t/4u/6t/6u inet sockets, u unix, p pipe, e eventfd, s signalfd, i inotify, t timerfd, … */
  kind?: string;
  name?: string;
}

export function parseFdArg(v: string | undefined): FdArg | undefined {
  if (v === undefined) return undefined;
  const m = /^(-?\d+)(?:\((?:<([a-z0-9]+)>)?(.*)\))?$/.exec(v);
  if (m === null) return undefined;
  const num = Number(m[1]);
  if (m[2] === undefined) return { num };
  return { num, kind: m[2], ...(m[3] !== undefined && m[3].length > 0 && { name: m[3] }) };
}

/** `-2(ENOENT)` or `512` → the number. */
export function parseNum(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(-?\d+)/.exec(v);
  return m === null ? undefined : Number(m[1]);
}

/** `4097(O_RDONLY|O_CLOEXEC)` → ['O_RDONLY', 'O_CLOEXEC']. */
export function flagNames(v: string | undefined): string[] {
  const m = v === undefined ? null : /\(([A-Z_0-9|]*)\)$/.exec(v);
  return m === null || m[1]!.length === 0 ? [] : m[1]!.split('|');
}

export interface Tuple {
  src: { addr: string; port: number };
  dst: { addr: string; port: number };
}

/** `192.168.240.3:50140->192.168.240.21:443` (IPv6 addresses in brackets or bare) → both ends. */
export function parseTuple(v: string | undefined): Tuple | undefined {
  if (v === undefined) return undefined;
  const m = /^\[?([0-9a-fA-F.:]+?)\]?:(\d+)->\[?([0-9a-fA-F.:]+?)\]?:(\d+)$/.exec(v);
  if (m === null) return undefined;
  return { src: { addr: m[1]!, port: Number(m[2]) }, dst: { addr: m[3]!, port: Number(m[4]) } };
}
