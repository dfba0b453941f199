import { z } from 'zod';
import { Event, Family, FdRights, Io, ObjectView, ProcView, type EventKind } from './event.js';
import { ChainHop } from './finding.js';

/**
 * What chain rules can match on: every `kind` a rule input can have (the
 * canonical events, resolved by the state stage, and the facts the flow
 * tracker derives) and, per kind, every field path with its type. Derived
 * from the zod schemas, so it cannot drift from the events themselves; a rule
 * naming a field or a value no input can have is refused when it is loaded
 * instead of never firing (`docs/rules.md`).
 */

/**
 * The descriptors the state stage resolves, per event kind: `res.KEY` is
 * what the descriptor in the event's field KEY points at (`res.ret` for the
 * fd an open returned). A test replays real traces and holds the state to
 * this list.
 */
export const RES_KEYS: Partial<Record<EventKind, readonly string[]>> = {
  'file.open': ['ret'],
  'file.memfd': ['ret'],
  'fd.dup': ['oldfd', 'ret'],
  'fd.fcntl': ['fd', 'ret'],
  'fd.close': ['fd'],
  'fd.pipe': ['read', 'write'],
  'fd.socket': ['ret'],
  'fd.socketpair': ['fd0', 'fd1'],
  'fd.rights': ['sock_fd', 'fd'],
  'fd.getfd': ['pidfd', 'ret'],
  'net.addr': ['fd'],
  'net.accept': ['listen_fd', 'ret'],
  'net.dest': ['fd'],
  'mem.map': ['fd'],
  io: ['fd'],
  'io.xfer': ['fd_in', 'fd_out'],
  'snapshot.fd': ['fd'],
  'file.xattr': ['fd'],
};

/**
 * The absolute, normalised paths the state stage adds, per event kind
 * (`abs.path` of an open: its path resolved against cwd or dirfd; `abs.aka`:
 * the first name of the file it names, when a link or rename gave it this one).
 */
export const ABS_KEYS: Partial<Record<EventKind, readonly string[]>> = {
  'file.open': ['path', 'real', 'aka'],
  'file.xattr': ['path'],
  'file.path2': ['old_path', 'new_path'],
  'file.unlink': ['path'],
  'process.exec': ['filename'],
  'process.chdir': ['path'],
};

const factBase = {
  ts: z.number().int(),
  pid: z.number().int(),
  tid: z.number().int(),
  proc: ProcView.optional(),
  /** The data-flow chain (`by: flow` joins on it). */
  chain_key: z.string(),
};

/** `flow.transmit`: data of a sensitive class reached a network socket (`src/correlate/flow-facts.ts`). */
export const FlowTransmitFields = z.object({
  ...factBase,
  kind: z.literal('flow.transmit'),
  data_class: z.string(),
  source_path: z.string(),
  via_file: z.boolean(),
  latency_ns: z.number().int(),
  hops: z.number().int(),
  processes: z.number().int(),
  bytes: z.number().int(),
  sink_family: Family.optional(),
  sink_address: z.string().optional(),
  sink_port: z.number().int().optional(),
});

const fdPass = { ...factBase, data_class: z.string().optional(), source_path: z.string().optional(), event: FdRights };
/** `flow.fd_sent`: a descriptor of a sensitive object left a process over SCM_RIGHTS. */
export const FdSentFields = z.object({ ...fdPass, kind: z.literal('flow.fd_sent') });
/** `flow.fd_received`: a watched process received a descriptor. */
export const FdReceivedFields = z.object({ ...fdPass, kind: z.literal('flow.fd_received') });

/** `flow.shell_relay`: a shell reads fd 0 from a pipe or socketpair another process fills from a network socket (`src/correlate/relay-tracker.ts`). */
export const ShellRelayFields = z.object({
  ...factBase,
  kind: z.literal('flow.shell_relay'),
  shell: z.string(),
  relay_pid: z.number().int(),
  relay_comm: z.string(),
  relay_exe: z.string().optional(),
  socket: ObjectView,
  hops: z.array(ChainHop),
  event: Io,
});

const FACTS = [FlowTransmitFields, FdSentFields, FdReceivedFields, ShellRelayFields];

export type FieldType = 'string' | 'number' | 'boolean' | 'object' | 'array';

/** One field a rule can name: its types, and the only values it can hold when it is an enum or a literal. */
export interface FieldInfo {
  types: Set<FieldType>;
  values?: Set<string>;
}

interface ZodDef {
  type: string;
  [k: string]: unknown;
}
const defOf = (s: unknown): ZodDef => (s as { _zod: { def: ZodDef } })._zod.def;

function add(out: Map<string, FieldInfo>, path: string, type: FieldType, values?: readonly string[]): void {
  let f = out.get(path);
  if (f === undefined) {
    f = { types: new Set() };
    if (values !== undefined) f.values = new Set();
    out.set(path, f);
  }
  f.types.add(type);
  // a field is an enum only when every way it can be typed is one
  if (values === undefined) delete f.values;
  else if (f.values !== undefined) for (const v of values) f.values.add(v);
}

/** Every field path of a schema (`#` stands for any array index), with `res` and `abs` keyed by what the state adds for `kind`. */
function walk(schema: unknown, path: string, kind: string, out: Map<string, FieldInfo>): void {
  const def = defOf(schema);
  const at = (k: string | number): string => (path === '' ? String(k) : `${path}.${k}`);
  switch (def.type) {
    case 'optional':
    case 'nullable':
      return walk(def['innerType'], path, kind, out);
    case 'pipe':
      return walk(def['in'], path, kind, out);
    case 'string':
      return add(out, path, 'string');
    case 'number':
      return add(out, path, 'number');
    case 'boolean':
      return add(out, path, 'boolean');
    case 'literal':
      for (const v of def['values'] as unknown[]) {
        if (typeof v === 'string') add(out, path, 'string', [v]);
        else add(out, path, typeof v === 'number' ? 'number' : 'boolean');
      }
      return;
    case 'enum':
      return add(out, path, 'string', Object.values(def['entries'] as Record<string, string>));
    case 'union':
      for (const o of def['options'] as unknown[]) walk(o, path, kind, out);
      return;
    case 'object': {
      if (path !== '') add(out, path, 'object');
      const shape = def['shape'] as Record<string, unknown>;
      // a nested event (`event` of a fact) has the res and abs of its own kind
      const own = shape['kind'] === undefined ? kind : String((defOf(shape['kind'])['values'] as unknown[])[0]);
      for (const [k, v] of Object.entries(shape)) walk(v, at(k), own, out);
      return;
    }
    case 'array':
      add(out, path, 'array');
      return walk(def['element'], at('#'), kind, out);
    case 'tuple':
      add(out, path, 'array');
      (def['items'] as unknown[]).forEach((item, i) => walk(item, at(i), kind, out));
      return;
    case 'record': {
      add(out, path, 'object');
      const last = path.split('.').at(-1);
      const keys = last === 'res' ? RES_KEYS[kind as EventKind] : last === 'abs' ? ABS_KEYS[kind as EventKind] : undefined;
      if (last === 'res' || last === 'abs') for (const k of keys ?? []) walk(def['valueType'], at(k), kind, out);
      else walk(def['valueType'], at('*'), kind, out);
      return;
    }
    default:
      throw new Error(`rule-fields: zod type ${def.type} at ${path} is not catalogued`);
  }
}

function build(): Map<string, Map<string, FieldInfo>> {
  const byKind = new Map<string, Map<string, FieldInfo>>();
  for (const s of [...(defOf(Event)['options'] as unknown[]), ...FACTS]) {
    const fields = new Map<string, FieldInfo>();
    walk(s, '', '', fields);
    const kind = [...fields.get('kind')!.values!][0]!;
    byKind.set(kind, fields);
  }
  return byKind;
}

/** kind → field path → what it holds. */
export const RULE_FIELDS: ReadonlyMap<string, ReadonlyMap<string, FieldInfo>> = build();
/** Kinds that are flow facts (they carry `chain_key`, which `by: flow` joins on). */
export const FACT_KINDS: readonly string[] = FACTS.map((f) => String((defOf(f.shape.kind)['values'] as unknown[])[0]));

/** What `path` holds in inputs of `kind` (array indices match `#`), or undefined when it has no such field. */
export function fieldOf(kind: string, path: string): FieldInfo | undefined {
  const fields = RULE_FIELDS.get(kind);
  if (fields === undefined) return undefined;
  const exact = fields.get(path);
  if (exact !== undefined) return exact;
  const parts = path.split('.');
  if (!parts.some((p) => /^\d+$/.test(p))) return undefined;
  return fields.get(parts.map((p) => (/^\d+$/.test(p) ? '#' : p)).join('.'));
}
