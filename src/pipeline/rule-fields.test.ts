import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Correlator } from '../correlate/correlator.js';
import { FindingBuilder } from '../correlate/finding-builder.js';
import { FlowTracker } from '../correlate/flow-tracker.js';
import { SequenceMatcher, type RuleInput, type RuleMatch } from '../correlate/sequence-matcher.js';
import { chainRulesFile, loadChainRules } from '../rules/chain-rules.js';
import { DataClasses } from '../rules/data-classes.js';
import type { Event } from '../schema/event.js';
import { fieldOf, RULE_FIELDS, type FieldType } from '../schema/rule-fields.js';
import { TestWorld } from '../testing/world.js';
import { runReplay } from './replay-session.js';

/**
 * The catalogue of what rules can match (schema/rule-fields.ts) is derived
 * from the zod schemas plus the list of descriptors the state resolves per
 * kind. Rules are refused when they name a field outside it, so it must hold
 * every field real inputs carry: every event of the replay library (our own
 * recordings and the imported sysdig/LID-DS ones), resolved by the state,
 * and every flow fact the correlator derives from them.
 */
class SpyMatcher extends SequenceMatcher {
  readonly seen: RuleInput[] = [];
  override observe(x: RuleInput): RuleMatch[] {
    this.seen.push(x);
    return super.observe(x);
  }
}

const typeOf = (v: unknown): FieldType => (Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : (typeof v as FieldType));

/** Every field path of an input with what it holds (`transmit` of a flow.transmit is the finding builder's, not the rules'). */
function fieldsOfInput(x: object, prefix = '', out: [string, unknown][] = []): [string, unknown][] {
  for (const [k, v] of Object.entries(x)) {
    if (v === undefined || v === null || (prefix === '' && k === 'transmit')) continue;
    const path = prefix === '' ? k : `${prefix}.${k}`;
    out.push([path, v]);
    if (typeof v === 'object') fieldsOfInput(v as object, path, out);
  }
  return out;
}

/** Fields real inputs carried that the catalogue does not list, or lists with another type. */
function outside(inputs: RuleInput[]): Set<string> {
  const bad = new Set<string>();
  for (const x of inputs) {
    for (const [path, v] of fieldsOfInput(x)) {
      const f = fieldOf(x.kind, path);
      if (f === undefined || !f.types.has(typeOf(v)) || (f.values !== undefined && !f.values.has(v as string))) bad.add(`${x.kind} ${path}: ${JSON.stringify(v).slice(0, 60)}`);
    }
  }
  return bad;
}

const replays = join(import.meta.dirname, '../../replays');
const traces = [
  ...readdirSync(replays)
    .filter((f) => f.endsWith('.trace.jsonl.gz'))
    .map((f) => join(replays, f)),
  ...readdirSync(join(replays, 'imported'))
    .filter((f) => /\.(scap|zip)$/.test(f))
    .map((f) => join(replays, 'imported', f)),
];

describe('what rules can match (schema/rule-fields.ts)', () => {
  it('holds every field of every resolved event and flow fact of the replay library', async () => {
    const classes = DataClasses.load(DataClasses.defaultFile());
    const inputs: RuleInput[] = [];
    const kinds = new Set<string>();
    for (const trace of traces) {
      const spy = new SpyMatcher(loadChainRules(chainRulesFile()).rules);
      const c = new Correlator(new FlowTracker((p) => classes.classify(p)), spy, new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null }));
      const events: Event[] = [];
      await runReplay({ traces: [trace], onEvent: (ev) => events.push(ev) });
      for (const ev of events) c.observe(ev);
      c.flush();
      for (const x of spy.seen) kinds.add(x.kind);
      inputs.push(...spy.seen);
    }
    expect(inputs.length).toBeGreaterThan(10_000);
    expect([...kinds].filter((k) => k.startsWith('flow.')).sort()).toEqual(['flow.fd_received', 'flow.fd_sent', 'flow.shell_relay', 'flow.transmit']);
    // the state attached descriptors and absolute paths to the events, and each is listed for its kind
    expect(inputs.some((x) => 'res' in x)).toBe(true);
    expect(inputs.some((x) => 'abs' in x)).toBe(true);
    expect([...outside(inputs)]).toEqual([]);
    for (const k of kinds) expect(RULE_FIELDS.has(k)).toBe(true);
  }, 120_000);

  it('holds every field of a flow.shell_relay fact', () => {
    const classes = DataClasses.load(DataClasses.defaultFile());
    const spy = new SpyMatcher(loadChainRules(chainRulesFile()).rules);
    const w = new TestWorld(new Correlator(new FlowTracker((p) => classes.classify(p)), spy, new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null })));
    // socat reads a TCP socket and writes into a pipe; its child, a shell, reads the pipe as fd 0
    w.proc('t', 10, 'socat');
    w.socket('t', 10, 3);
    w.pipe('t', 10, 4, 5);
    w.fork('t', 10, 11);
    w.feed({ ...w.b('t', 11), kind: 'fd.dup', syscall: 'dup2', oldfd: 4, newfd: 0, flags: 0, ret: 0 });
    w.feed({ ...w.b('t', 11), kind: 'process.exec', filename: '/bin/sh', argv: ['sh'], argv_truncated: false, old_tid: 11, ppid: 10, exe_obj: null });
    w.io('t', 10, 'in', 3);
    w.io('t', 10, 'out', 5);
    w.io('t', 11, 'in', 0);
    const relays = spy.seen.filter((x) => x.kind === 'flow.shell_relay');
    expect(relays).toHaveLength(1);
    expect(w.out.map((f) => f.rule)).toContain('shell.relayed-from-socket');
    expect([...outside(spy.seen)]).toEqual([]);
  });
});
