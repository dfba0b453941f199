import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import picomatch from 'picomatch';
import { BaselineLearner } from '../correlate/baseline-learner.js';
import { BASELINE_FORMAT, BASELINE_VERSION, type Baseline } from '../schema/baseline.js';
import { ChainwatchError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { runReplay } from './replay-session.js';

/**
 * `chainwatch baseline learn`: recorded benign runs of one intent replayed
 * through the pipeline's own feature extractor (the one that scores at run
 * time); every task in the traces (or those matching `tasks`) is one run.
 * Only this explicit step writes a baseline: nothing a monitored task does
 * is ever folded into one.
 */
export interface LearnOptions {
  intent: string;
  traces: string[];
  /** Task name glob: which tasks of the traces are runs of the intent (default: all). */
  tasks?: string;
  rulesDir?: string;
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

export async function learnBaseline(o: LearnOptions): Promise<Baseline> {
  const match = o.tasks === undefined ? () => true : picomatch(o.tasks, { dot: true });
  const traces: Baseline['traces'] = [];
  const all = new BaselineLearner((t) => match(t));
  for (const file of o.traces) {
    const before = new Set(all.tasks);
    await runReplay({ traces: [file], learner: all, ...(o.rulesDir !== undefined && { rulesDir: o.rulesDir }) });
    traces.push({ file, sha256: await sha256Of(file), tasks: [...all.tasks].filter((t) => !before.has(t)).sort() });
  }
  const r = all.result();
  if (r.runs === 0) {
    throw new ChainwatchError('USAGE', `no runs to learn from: the traces hold no task${o.tasks === undefined ? '' : ` matching ${o.tasks}`}`, { fix: 'give traces recorded with chainwatch watch --record (and a --tasks glob that matches their task names)' });
  }
  return {
    format: BASELINE_FORMAT,
    version: BASELINE_VERSION,
    intent: o.intent,
    learned_at: new Date().toISOString(),
    chainwatch_version: VERSION,
    traces,
    ...r,
  };
}

export function writeBaseline(b: Baseline, file: string): void {
  writeFileSync(file, `${JSON.stringify(b, null, 2)}\n`);
}
