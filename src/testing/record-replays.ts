/**
 * Records the replay library (`replays/`, listed in `replay-library.ts`):
 * real programs run under the real probes with `watch --record`, each trace
 * stored with the findings `watch` printed live. `src/pipeline/replays.test.ts`
 * replays every trace and requires exactly those findings. Run as root after
 * changing the probes, the rules or the finding format:
 *
 *   npm run build && node dist/src/testing/record-replays.js [NAME…]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLiveSession } from '../pipeline/live-session.js';
import { packageDir } from '../util/package-dir.js';
import { httpSink, shellListener, tcpSink } from './live-harness.js';
import { REPLAY_LIBRARY, type Workbench } from './replay-library.js';
import { freePort } from './rsyslog.js';

const only = process.argv.slice(2);
const unknown = only.filter((n) => !REPLAY_LIBRARY.some((s) => s.name === n));
if (unknown.length > 0) throw new Error(`not in the replay library: ${unknown.join(', ')} (see src/testing/replay-library.ts)`);

const out = join(packageDir('replays', 'README.md') ?? 'replays');
mkdirSync(out, { recursive: true });
const http = await httpSink();
const tcp = await tcpSink();
const shell = await shellListener();
const dir = mkdtempSync(join(tmpdir(), 'cw-replays-'));
const notes = join(dir, 'notes.txt');
writeFileSync(notes, 'meeting notes, nothing secret\n'.repeat(40));
mkdirSync(join(dir, '.ssh'));
const sshKey = join(dir, '.ssh', 'id_ed25519');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'chainwatch-replay', '-f', sshKey]);

for (const s of REPLAY_LIBRARY) {
  if (only.length > 0 && !only.includes(s.name)) continue;
  const w: Workbench = { dir, notes, sshKey, httpPort: http.port, tcpPort: tcp.port, shellPort: shell.port, freePort: await freePort('127.0.0.2') };
  const trace = join(out, `${s.name}.trace.jsonl.gz`);
  const findings = join(out, `${s.name}.findings.jsonl`);
  // --findings appends; --record keeps an existing recording beside the new one (NAME.1.trace.jsonl.gz)
  for (const f of [trace, findings]) rmSync(f, { force: true });
  const summary = await runLiveSession({ target: { mode: 'command', argv: ['bash', '-c', await s.script(w)] }, task: s.name, record: trace, findings });
  const rules = readFileSync(findings, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => (JSON.parse(l) as { id: string; rule: string }));
  const yielded = [...new Map(rules.map((f) => [f.id, f.rule])).values()].sort();
  if (summary.lostEvents > 0 || summary.lateEvents > 0 || summary.commandExit?.code !== 0 || JSON.stringify(yielded) !== JSON.stringify(s.mustYield)) {
    throw new Error(`${s.name}: lost ${summary.lostEvents}, late ${summary.lateEvents}, exit ${JSON.stringify(summary.commandExit)}, yielded ${JSON.stringify(yielded)} (must yield ${JSON.stringify(s.mustYield)}): record again`);
  }
  process.stderr.write(`${s.name}: ${summary.events} events, ${summary.findings} findings — ${s.what}\n`);
}
await http.close();
await tcp.close();
await shell.close();
