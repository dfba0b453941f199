import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCorrelation } from '../src/pipeline/correlation.js';
import { SequenceLedger } from '../src/remote/sequence-ledger.js';
import { defaultPolicyFile, loadPolicy } from '../src/rules/policy-file.js';
import { SUMMARIZE_BASELINE } from '../src/testing/fixtures.js';
import { TestWorld } from '../src/testing/world.js';

/**
 * An always-on host runs sandbox after sandbox: does memory follow the
 * sandboxes alive, or every one ever seen? Each sandbox is a cgroup with a
 * process that reads a document and sends to the intent's API (the shipped
 * policy, a baseline of the intent), exits, and the cgroup is removed.
 * Heap after a full GC at each quarter (needs --expose-gc), and the cost
 * of one serve acknowledgement's ledger write with that many sandboxes.
 */
export interface ChurnResult {
  sandboxes: number;
  heapMiB: number[];
  ledgerSaveMs: number;
}


export function benchChurn(sandboxes: number): ChurnResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  const c = buildCorrelation({ host: 'bench', wallEpochNs: 0n, policy: loadPolicy(defaultPolicyFile()), baselines: [SUMMARIZE_BASELINE], onFinding: () => undefined });
  const w = new TestWorld(c.correlator);
  const heapMiB: number[] = [];
  const quarter = Math.max(1, Math.floor(sandboxes / 4));
  for (let i = 0; i < sandboxes; i++) {
    const task = `/sandboxes/summarize-${i}`;
    const pid = 1000 + (i % 30_000);
    w.proc(task, pid, 'summarizer');
    w.open(task, pid, 3, `/home/user/doc-${i}.txt`);
    w.io(task, pid, 'in', 3, 100);
    w.close(task, pid, 3);
    w.socket(task, pid, 4, '127.0.0.2', 8443);
    w.io(task, pid, 'out', 4, 5000);
    w.exit(task, pid);
    w.gone(task);
    w.out.length = 0;
    if ((i + 1) % quarter === 0) {
      gc?.();
      heapMiB.push(process.memoryUsage().heapUsed / 2 ** 20);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'cw-bench-ledger-'));
  try {
    const ledger = new SequenceLedger(join(dir, 'ledger.json'));
    for (let i = 0; i < sandboxes; i++) ledger.hello(`sandbox-${i}`, 'run-0123456789abcdef', 0);
    ledger.save();
    const t0 = performance.now();
    const rounds = 2000;
    for (let n = 0; n < rounds; n++) {
      ledger.batch('sandbox-7', n * 256, 256);
      ledger.save();
    }
    return { sandboxes, heapMiB, ledgerSaveMs: (performance.now() - t0) / rounds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
