import { describe, expect, it, vi } from 'vitest';
import { Correlator } from '../correlate/correlator.js';
import { FindingBuilder } from '../correlate/finding-builder.js';
import { FlowTracker } from '../correlate/flow-tracker.js';
import { SequenceMatcher } from '../correlate/sequence-matcher.js';
import { chainRulesFile, loadChainRules } from '../rules/chain-rules.js';
import { TestWorld } from '../testing/world.js';
import { HEALTH_EVERY_MS, watchHealth } from './watch-health.js';

describe('watch health', () => {
  it('warns within a minute when live flow marks are dropped at their bound, once per new drop; counters every ten minutes', () => {
    vi.useFakeTimers();
    try {
      const classify = (p: string): string[] => (p === '/etc/shadow' ? ['secret'] : []);
      const w = new TestWorld(new Correlator(new FlowTracker(classify, 1), new SequenceMatcher(loadChainRules(chainRulesFile()).rules), new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null })));
      const said: [string, Record<string, unknown>, string][] = [];
      const t = watchHealth(w.correlator, () => ({ events: 7 }), (level, fields, msg) => said.push([level, fields, msg]));
      w.proc('t', 1, 'sh');
      w.open('t', 1, 3, '/etc/shadow');
      w.io('t', 1, 'in', 3);
      w.open('t', 1, 4, '/tmp/a', '8:1:9001');
      w.io('t', 1, 'out', 4);
      w.open('t', 1, 5, '/tmp/b', '8:1:9002');
      w.io('t', 1, 'out', 5); // the bound is one mark: /tmp/a's is dropped
      vi.advanceTimersByTime(HEALTH_EVERY_MS);
      expect(said).toEqual([['warn', { marks_evicted: 1, total: 1, marks: 1 }, 'flow marks dropped at their bound: data the tracker no longer follows']]);
      vi.advanceTimersByTime(8 * HEALTH_EVERY_MS);
      expect(said).toHaveLength(1);
      vi.advanceTimersByTime(HEALTH_EVERY_MS);
      expect(said[1]).toMatchObject(['info', { events: 7, flow: { marksEvicted: 1 }, chains: { closed: 0 } }, 'watching']);
      clearInterval(t);
    } finally {
      vi.useRealTimers();
    }
  });

  it('warns when a process has more shared mappings than the flow tracker follows', () => {
    vi.useFakeTimers();
    try {
      const w = new TestWorld(new Correlator(new FlowTracker(() => []), new SequenceMatcher(loadChainRules(chainRulesFile()).rules), new FindingBuilder({ host: 'h', wallEpochNs: 0n, policyHash: null })));
      const said: [string, Record<string, unknown>, string][] = [];
      const t = watchHealth(w.correlator, () => ({}), (level, fields, msg) => said.push([level, fields, msg]));
      w.proc('t', 1, 'db');
      for (let i = 0; i < 4098; i++) w.map('t', 1, 0x10000 + i * 0x1000, 0x1000);
      vi.advanceTimersByTime(HEALTH_EVERY_MS);
      expect(said).toEqual([['warn', { mappings_not_followed: 2, total: 2, followed: 4096 }, 'shared mappings not followed: their process has as many as the flow tracker keeps']]);
      vi.advanceTimersByTime(HEALTH_EVERY_MS);
      expect(said).toHaveLength(1);
      clearInterval(t);
    } finally {
      vi.useRealTimers();
    }
  });
});
