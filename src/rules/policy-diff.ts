import type { EffectiveIntent, EffectivePolicy } from '../schema/policy.js';
import { canonicalJson } from '../util/canonical-json.js';

/**
 * What a policy change does, capability by capability (matched by intent
 * and capability id): added, removed, widened (the new one allows
 * everything the old one did and more), narrowed, or changed (neither).
 * Also intents added or removed, manifest changes and limits.
 */
export interface PolicyChange {
  change: 'added' | 'removed' | 'widened' | 'narrowed' | 'changed';
  intent: string;
  kind: 'intent' | 'files' | 'exec' | 'network' | 'flows' | 'limits' | 'manifest' | 'settings';
  id: string;
  detail: string;
}

type Cap = { id: string } & Record<string, unknown>;
const KINDS = ['files', 'exec', 'network', 'flows'] as const;

/** Fields whose list of values grants more when it grows; absent means "any" (widest). */
const LIST_FIELDS = ['paths', 'access', 'ops', 'cidrs', 'ports', 'unix_paths', 'classes', 'args'];

function compare(a: Cap, b: Cap): 'same' | 'widened' | 'narrowed' | 'changed' {
  if (canonicalJson(a) === canonicalJson(b)) return 'same';
  let wider = false;
  let narrower = false;
  const flat = (c: Cap): Record<string, unknown> => ({ ...c, ...((c.to as object | undefined) ?? {}) });
  const fa = flat(a);
  const fb = flat(b);
  for (const f of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
    if (['id', 'why', 'risk', 'to'].includes(f)) continue;
    const x = fa[f];
    const y = fb[f];
    if (canonicalJson(x) === canonicalJson(y)) continue;
    if (LIST_FIELDS.includes(f)) {
      if (x === undefined) narrower = true; // was any
      else if (y === undefined) wider = true; // now any
      else {
        const text = (v: unknown): string => (typeof v === 'string' ? v : canonicalJson(v)); // an argument form is a list
        const xs = new Set((x as unknown[]).map(text));
        const ys = new Set((y as unknown[]).map(text));
        if ([...xs].every((v) => ys.has(v))) wider = true;
        else if ([...ys].every((v) => xs.has(v))) narrower = true;
        else return 'changed';
      }
    } else if (f === 'family') {
      if (y === undefined) wider = true;
      else if (x === undefined) narrower = true;
      else return 'changed';
    } else if (f === 'sha256') {
      if (y === undefined) wider = true;
      else return 'changed';
    } else return 'changed';
  }
  if (wider && narrower) return 'changed';
  return wider ? 'widened' : narrower ? 'narrowed' : 'changed';
}

export function diffPolicies(oldP: EffectivePolicy, newP: EffectivePolicy): PolicyChange[] {
  const out: PolicyChange[] = [];
  const names = [...new Set([...Object.keys(oldP.intents), ...Object.keys(newP.intents)])].sort();
  for (const name of names) {
    const a = oldP.intents[name];
    const b = newP.intents[name];
    if (!a || !b) {
      out.push({ change: a ? 'removed' : 'added', intent: name, kind: 'intent', id: name, detail: (b ?? a)!.description });
      continue;
    }
    for (const kind of KINDS) {
      const am = new Map((a[kind] as Cap[]).map((c) => [c.id, c]));
      const bm = new Map((b[kind] as Cap[]).map((c) => [c.id, c]));
      for (const [id, c] of bm) {
        const old = am.get(id);
        if (!old) out.push({ change: 'added', intent: name, kind, id, detail: `${summary(c)} — why: ${String(c.why)} (risk ${String(c.risk)})` });
        else {
          const r = compare(old, c);
          if (r !== 'same') out.push({ change: r, intent: name, kind, id, detail: `${summary(old)} → ${summary(c)}` });
        }
      }
      for (const [id, c] of am) if (!bm.has(id)) out.push({ change: 'removed', intent: name, kind, id, detail: summary(c) });
    }
    out.push(...diffLimits(name, a, b));
    if (a.on_violation !== b.on_violation) out.push({ change: b.on_violation === 'alert' ? 'narrowed' : 'widened', intent: name, kind: 'settings', id: 'on_violation', detail: `${a.on_violation} → ${b.on_violation}` });
  }
  const ms = (p: EffectivePolicy): string[] => p.manifest.map((m) => `${m.cgroup !== undefined ? `cgroup ${m.cgroup}` : `task ${m.task}`} → ${m.intent}`);
  const [ma, mb] = [ms(oldP), ms(newP)];
  for (const m of mb) if (!ma.includes(m)) out.push({ change: 'added', intent: m.split(' → ')[1]!, kind: 'manifest', id: m, detail: m });
  for (const m of ma) if (!mb.includes(m)) out.push({ change: 'removed', intent: m.split(' → ')[1]!, kind: 'manifest', id: m, detail: m });
  return out;
}

function diffLimits(name: string, a: EffectiveIntent, b: EffectiveIntent): PolicyChange[] {
  const out: PolicyChange[] = [];
  if (a.limits.fd_passing !== b.limits.fd_passing) out.push({ change: b.limits.fd_passing === 'allow' ? 'widened' : 'narrowed', intent: name, kind: 'limits', id: 'fd_passing', detail: `${a.limits.fd_passing} → ${b.limits.fd_passing}` });
  const ra = a.limits.bytes_out_per_minute?.max;
  const rb = b.limits.bytes_out_per_minute?.max;
  if (ra !== rb) out.push({ change: rb === undefined || (ra !== undefined && rb > ra) ? 'widened' : 'narrowed', intent: name, kind: 'limits', id: 'bytes_out_per_minute', detail: `${ra ?? 'unlimited'} → ${rb ?? 'unlimited'}` });
  const na = new Map(a.limits.no_transmit_after.map((l) => [l.id, l]));
  const nb = new Map(b.limits.no_transmit_after.map((l) => [l.id, l]));
  for (const [id, l] of na) {
    const m = nb.get(id);
    if (!m) out.push({ change: 'widened', intent: name, kind: 'limits', id, detail: `no_transmit_after ${l.class} within ${l.within / 1e9}s removed` });
    else if (m.class !== l.class) out.push({ change: 'changed', intent: name, kind: 'limits', id, detail: `class ${l.class} → ${m.class}` });
    else if (m.within !== l.within) out.push({ change: m.within < l.within ? 'widened' : 'narrowed', intent: name, kind: 'limits', id, detail: `within ${l.within / 1e9}s → ${m.within / 1e9}s` });
  }
  for (const [id, m] of nb) if (!na.has(id)) out.push({ change: 'narrowed', intent: name, kind: 'limits', id, detail: `no_transmit_after ${m.class} within ${m.within / 1e9}s added` });
  return out;
}

function summary(c: Cap): string {
  const parts: string[] = [];
  for (const f of ['ops', 'access', 'paths', 'family', 'cidrs', 'ports', 'unix_paths', 'classes', 'sha256']) {
    if (c[f] !== undefined) parts.push(`${f}=${Array.isArray(c[f]) ? (c[f] as unknown[]).join(',') : String(c[f])}`);
  }
  if (c.to !== undefined) parts.push(`to{${summary({ id: '', ...(c.to as object) })}}`);
  return parts.join(' ');
}
