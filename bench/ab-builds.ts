import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { FrameEncoder } from './probe-frames.js';
import { MEASURED_INTERLEAVE, Workload } from './decode-state.js';

/**
 * `node dist/bench/ab-builds.js DIST_A DIST_B` (the built dist/ of two
 * checkouts, e.g. a `git worktree` of the base commit with node_modules
 * linked and `npm run build` run there): decode + state (or the full
 * pipeline, `AB_MODE=full`) of two builds in one process, on the same
 * stream, in alternating slices (`AB_SLICE` pipe reads each, the order
 * flipped every slice), each build's time summed. This VM's speed drifts by
 * a third within an hour, so runs of two builds one after the other cannot
 * tell a 5% change from the drift; interleaved slices in one process see
 * the same drift and agree with themselves within ~2–4% (an A/A run, the
 * same dist twice, says how close today). `AB_LINES` (3M), `AB_INTERLEAVE=uniform` for the worst case.
 */
interface Build {
  dir: string;
  events: number;
  warmEvents: number;
  ms: number;
  findings: number;
  run(from: number, to: number): void;
}

const [dirA, dirB] = process.argv.slice(2);
if (dirA === undefined || dirB === undefined) {
  console.error('usage: node dist/bench/ab-builds.js DIST_A DIST_B (two built dist/ directories; AB_MODE=full, AB_LINES, AB_SLICE, AB_INTERLEAVE=uniform)');
  process.exit(2);
}
const full = process.env.AB_MODE === 'full';
const lines = Number(process.env.AB_LINES ?? 3_000_000);
const slice = Number(process.env.AB_SLICE ?? 20);

const frames = new FrameEncoder();
const workload = new Workload(2000, process.env.AB_INTERLEAVE === 'uniform' ? undefined : MEASURED_INTERLEAVE);
const reads: Buffer[] = [];
for (let left = lines; left > 0; left -= 100_000) {
  const made: string[] = [];
  workload.fill(made, Math.min(left, 100_000));
  const bytes = Buffer.concat(made.map((l) => frames.frame(l)));
  for (let at = 0; at < bytes.length; at += 65_536) reads.push(bytes.subarray(at, at + 65_536));
}

async function load(dir: string): Promise<Build> {
  const m = async (p: string): Promise<any> => import(pathToFileURL(resolve(dir, p)).href);
  const { ProbeDecoder } = await m('src/decode/probe-decoder.js');
  const { SystemState } = await m('src/state/system-state.js');
  const { ProbeOutput } = await m('src/source/probe-output.js');
  const { Correlator } = await m('src/correlate/correlator.js');
  const { FindingBuilder } = await m('src/correlate/finding-builder.js');
  const { FlowTracker } = await m('src/correlate/flow-tracker.js');
  const { SequenceMatcher } = await m('src/correlate/sequence-matcher.js');
  const { chainRulesFile, loadChainRules } = await m('src/rules/chain-rules.js');
  const { DataClasses } = await m('src/rules/data-classes.js');
  const decoder = new ProbeDecoder({ monoEpochNs: 0n, onIssue: () => undefined, printfLayouts: frames.layouts });
  const output = new ProbeOutput();
  const state = new SystemState();
  // built from the build's own modules (not the bench helper), so older builds compare too
  const classes = DataClasses.load(DataClasses.defaultFile());
  const correlator = new Correlator(
    new FlowTracker((p: string) => classes.classify(p)),
    new SequenceMatcher(loadChainRules(chainRulesFile()).rules),
    new FindingBuilder({ host: 'bench', wallEpochNs: 0n, policyHash: null }),
  );
  const b: Build = { dir, events: 0, warmEvents: 0, ms: 0, findings: 0, run: () => undefined };
  const apply = full
    ? (e: unknown): void => {
        state.apply(e);
        b.events++;
        b.findings += correlator.observe(e).length;
      }
    : (e: unknown): void => {
        state.apply(e);
        b.events++;
      };
  b.run = (from, to) => {
    for (let i = from; i < to; i++) for (const part of output.push(reads[i]!)) decoder.decodeFrames(part, apply);
  };
  return b;
}

const builds = [await load(dirA), await load(dirB)];
const warm = Math.floor(reads.length / 6);
for (let i = 0; i < warm; i += slice) for (const b of builds) b.run(i, Math.min(i + slice, warm));
for (const b of builds) b.warmEvents = b.events;
for (let i = warm, k = 0; i < reads.length; i += slice, k++) {
  for (const b of k % 2 === 0 ? builds : [...builds].reverse()) {
    const t0 = performance.now();
    b.run(i, Math.min(i + slice, reads.length));
    b.ms += performance.now() - t0;
  }
}
const rate = (b: Build): number => (b.events - b.warmEvents) / (b.ms / 1000);
for (const b of builds) console.log(`${b.dir}: ${full ? 'full pipeline' : 'decode + state'} ${Math.round(rate(b)).toLocaleString()} events/s${full ? `, ${b.findings} findings` : ''}`);
console.log(`B/A: ${(rate(builds[1]!) / rate(builds[0]!)).toFixed(3)}`);
