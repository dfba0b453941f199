import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { learnBaseline } from '../src/pipeline/baseline-session.js';
import { runReplay } from '../src/pipeline/replay-session.js';
import { makeTrace } from './replay.js';

/**
 * What baseline scoring costs: the same synthetic trace replayed through the
 * full pipeline with no baseline and with one learned from the trace itself
 * (every feature extracted and checked, nothing reported), best of two each.
 */
export async function benchBaselineCost(events: number): Promise<{ events: number; offPerS: number; onPerS: number; ratio: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cw-bench-baseline-'));
  try {
    const trace = join(dir, 'bench.trace.jsonl');
    const n = makeTrace(trace, events);
    const baseline = await learnBaseline({ intent: 'bench', traces: [trace] });
    const time = async (withBaseline: boolean): Promise<number> => {
      const t0 = performance.now();
      await runReplay({ traces: [trace], ...(withBaseline && { baselines: [baseline] }) });
      return (performance.now() - t0) / 1000;
    };
    let off = Infinity;
    let on = Infinity;
    for (let i = 0; i < 2; i++) {
      off = Math.min(off, await time(false));
      on = Math.min(on, await time(true));
    }
    return { events: n, offPerS: n / off, onPerS: n / on, ratio: on / off };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
