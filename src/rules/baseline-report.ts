import { FEATURE_TEXT, NUMERIC_FEATURES, type Baseline, type Distribution } from '../schema/baseline.js';

/** Baselines as people read them: `chainwatch baseline show` and `diff`. */
const num = (v: number): string => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en') : String(Math.round(v * 1000) / 1000));

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}

export function showBaseline(b: Baseline): string {
  const out: string[] = [];
  out.push(`baseline of intent ${b.intent}: ${b.runs} runs from ${b.traces.length} trace(s), learned ${b.learned_at} (chainwatch ${b.chainwatch_version})`);
  for (const t of b.traces) out.push(`  ${t.file}  sha256 ${t.sha256}  tasks: ${t.tasks.join(', ')}`);
  const rows = [['feature', 'n', 'min', 'p1', 'p50', 'p99', 'max']];
  for (const f of NUMERIC_FEATURES) {
    const d = b.features[f];
    if (d) rows.push([`${FEATURE_TEXT[f].what}${FEATURE_TEXT[f].unit ? ` (${FEATURE_TEXT[f].unit})` : ''}`, String(d.n), num(d.min), num(d.p1), num(d.p50), num(d.p99), num(d.max)]);
  }
  out.push('', table(rows), '');
  out.push(`executables (${b.sets.executables.length}): ${b.sets.executables.join(', ') || '-'}`);
  out.push(`destinations (${b.sets.destinations.length}): ${b.sets.destinations.join(', ') || '-'}`);
  out.push(`data classes sent (${b.sets.data_classes.length}): ${b.sets.data_classes.join(', ') || '-'}`);
  out.push('', 'event-kind transitions per process role:');
  for (const [role, t] of Object.entries(b.transitions)) {
    const top = Object.entries(t).sort((x, y) => y[1] - x[1]);
    out.push(`  ${role}: ${top.length} kinds of transition, ${top.reduce((a, [, c]) => a + c, 0)} seen; most: ${top.slice(0, 4).map(([k, c]) => `${k} ×${c}`).join(', ')}`);
  }
  return out.join('\n');
}

export function diffBaselines(a: Baseline, b: Baseline): { text: string; changed: boolean } {
  const out: string[] = [];
  if (a.intent !== b.intent) out.push(`intent: ${a.intent} → ${b.intent}`);
  out.push(`runs: ${a.runs} → ${b.runs}`);
  const rows = [['feature', 'p1', 'p50', 'p99']];
  const cell = (x: Distribution | undefined, y: Distribution | undefined, k: 'p1' | 'p50' | 'p99'): string => {
    if (x === undefined && y === undefined) return '';
    if (x === undefined) return `new ${num(y![k])}`;
    if (y === undefined) return `gone (was ${num(x[k])})`;
    return x[k] === y[k] ? num(x[k]) : `${num(x[k])} → ${num(y[k])}`;
  };
  let changed = a.intent !== b.intent;
  for (const f of NUMERIC_FEATURES) {
    const x = a.features[f];
    const y = b.features[f];
    if (x === undefined && y === undefined) continue;
    if (JSON.stringify([x?.p1, x?.p50, x?.p99]) !== JSON.stringify([y?.p1, y?.p50, y?.p99])) changed = true;
    rows.push([FEATURE_TEXT[f].what, cell(x, y, 'p1'), cell(x, y, 'p50'), cell(x, y, 'p99')]);
  }
  out.push('', table(rows), '');
  for (const set of ['executables', 'destinations', 'data_classes'] as const) {
    const added = b.sets[set].filter((v) => !a.sets[set].includes(v));
    const removed = a.sets[set].filter((v) => !b.sets[set].includes(v));
    if (added.length + removed.length > 0) changed = true;
    out.push(`${set}: ${added.length === 0 && removed.length === 0 ? 'unchanged' : [...added.map((v) => `+${v}`), ...removed.map((v) => `-${v}`)].join(' ')}`);
  }
  const roles = [...new Set([...Object.keys(a.transitions), ...Object.keys(b.transitions)])].sort();
  for (const role of roles) {
    const x = Object.keys(a.transitions[role] ?? {});
    const y = Object.keys(b.transitions[role] ?? {});
    const added = y.filter((k) => !x.includes(k));
    const removed = x.filter((k) => !y.includes(k));
    if (added.length + removed.length === 0) continue;
    changed = true;
    out.push(`transitions of ${role}: ${[...added.map((v) => `+${v}`), ...removed.map((v) => `-${v}`)].join(' ')}`);
  }
  return { text: out.join('\n'), changed };
}

