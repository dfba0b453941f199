import { Correlator } from '../correlate/correlator.js';
import { FindingBuilder } from '../correlate/finding-builder.js';
import { FlowTracker } from '../correlate/flow-tracker.js';
import { SequenceMatcher } from '../correlate/sequence-matcher.js';
import { chainRulesFile, loadChainRules } from '../rules/chain-rules.js';
import { DataClasses } from '../rules/data-classes.js';
import type { Finding } from '../schema/finding.js';
import type { Correlation } from './pipeline.js';

export interface CorrelationSetup {
  /** Folder with data-classes.yaml and chains.yaml (default: the installed rules/). */
  rulesDir?: string | undefined;
  host: string;
  /** Wall-clock ns of the stream's epoch (findings carry wall time). */
  wallEpochNs: bigint;
  policyHash: string | null;
  onFinding: (f: Finding) => void;
}

/** Data classes, flow following, chain rules and findings, loaded from rules/: the same for watch and replay. */
export function buildCorrelation(o: CorrelationSetup): Correlation {
  const classes = DataClasses.load(DataClasses.defaultFile(o.rulesDir));
  return {
    correlator: new Correlator(
      new FlowTracker((p) => classes.classify(p)),
      new SequenceMatcher(loadChainRules(chainRulesFile(o.rulesDir)).rules),
      new FindingBuilder({ host: o.host, wallEpochNs: o.wallEpochNs, policyHash: o.policyHash }),
    ),
    onFinding: o.onFinding,
  };
}
