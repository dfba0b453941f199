import type { Finding } from '../schema/finding.js';

/**
 * Findings compared as a detection engineer compares them (`chainwatch rules
 * test`): by stable id, on the verdict (rule, severity, who, what, where, how
 * much, through which hops), not on what only restates it (the summary), on
 * when it was reported (time) or on which policy file was in force
 * (`policy_hash`: trying another policy is the point).
 */

/** The fields a finding's verdict is made of, flattened to `dotted.path → value`. */
export function verdictOf(f: Finding): Record<string, unknown> {
  const v: Record<string, unknown> = {
    rule: f.rule,
    category: f.category,
    severity: f.severity,
    task: f.task,
    'process.pid': f.process.pid,
    'process.comm': f.process.comm,
    'process.exe': f.process.exe,
    'source.path': f.source.path,
    'source.data_class': f.source.data_class,
    'sink.family': f.sink.family,
    'sink.address': f.sink.address,
    'sink.port': f.sink.port,
    'sink.path': f.sink.path,
    bytes_read: f.bytes_read,
    bytes_sent: f.bytes_sent,
    sends: f.sends,
    latency_ms: f.latency_ms,
    'coverage.lost_events': f.coverage.lost_events,
    action: f.action,
    'policy.intent': f.policy?.intent,
    'policy.capability': f.policy?.capability,
    'policy.violation': f.policy?.violation,
    chain: f.chain.map((h) => `${h.comm}(${h.pid}) ${h.syscall} fd ${h.fd} ${h.object}`).join(' → '),
  };
  for (const k of Object.keys(v)) if (v[k] === undefined) delete v[k];
  return v;
}

export interface FindingChange {
  expected: Finding;
  got: Finding;
  /** field → [expected, got] */
  fields: [string, unknown, unknown][];
}

export interface FindingDiff {
  /** Expected and found, with the same verdict. */
  same: Finding[];
  /** Expected, not found: a detection lost. */
  missing: Finding[];
  /** Found, not expected: a new detection (or a new false positive). */
  unexpected: Finding[];
  /** Found under the same id with another verdict. */
  changed: FindingChange[];
}

/**
 * Counter updates re-emit a finding under its id; the last one of each id
 * is its final state.
 */
export function finalById(fs: readonly Finding[]): Map<string, Finding> {
  const m = new Map<string, Finding>();
  for (const f of fs) {
    m.delete(f.id);
    m.set(f.id, f);
  }
  return m;
}

export function diffFindings(expected: readonly Finding[], got: readonly Finding[]): FindingDiff {
  const want = finalById(expected);
  const have = finalById(got);
  const d: FindingDiff = { same: [], missing: [], unexpected: [], changed: [] };
  for (const [id, e] of want) {
    const g = have.get(id);
    if (g === undefined) {
      d.missing.push(e);
      continue;
    }
    const a = verdictOf(e);
    const b = verdictOf(g);
    const fields: [string, unknown, unknown][] = [];
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) fields.push([k, a[k], b[k]]);
    if (fields.length === 0) d.same.push(g);
    else d.changed.push({ expected: e, got: g, fields });
  }
  for (const [id, g] of have) if (!want.has(id)) d.unexpected.push(g);
  return d;
}

export const passed = (d: FindingDiff): boolean => d.missing.length === 0 && d.unexpected.length === 0 && d.changed.length === 0;

/** `exfil.read-then-transmit: curl (pid 17917) /etc/shadow → 127.0.0.2:40001` */
export function headline(f: Finding): string {
  const sink = f.sink.address !== undefined ? `${f.sink.address}${f.sink.port !== undefined ? `:${f.sink.port}` : ''}` : f.sink.path;
  const what = [f.source.path, sink].filter((x) => x !== undefined).join(' → ');
  return `${f.rule}: ${f.process.comm} (pid ${f.process.pid}, task ${f.task})${what ? ` ${what}` : ''}`;
}
