import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestServe, testAgent, testPki, traceEvents, until } from '../src/testing/agent-link.js';
import { freePort } from '../src/testing/rsyslog.js';
import { makeTrace } from './replay.js';

/**
 * The agent link: events/s from one agent and from eight at once into one
 * chainwatch serve over loopback mutual TLS (serve in its own process, the
 * agents in this one; from the first event pushed to the last one
 * acknowledged, i.e. through the host pipeline and its outputs), and the
 * latency the link adds to a finding.
 */
export interface AgentLinkBench {
  events: number;
  oneAgentPerS: number;
  eightAgentsPerS: number;
  findingLatencyMs: { p50: number; p99: number; samples: number };
}

async function throughput(agents: number, events: Awaited<ReturnType<typeof traceEvents>>, pki: ReturnType<typeof testPki>, dir: string): Promise<number> {
  const port = await freePort();
  const state = mkdtempSync(join(dir, 'serve-'));
  const serve = spawn('node', ['dist/src/cli/main.js', 'serve', '--listen', `127.0.0.1:${port}`, '--cert', pki.host!.cert, '--key', pki.host!.key, '--ca', pki.ca,
    '--no-policy', '--no-audit', '--findings', join(state, 'findings.jsonl'), '--admin', join(state, 'admin.sock'), '--state', join(state, 'state')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let ready = false;
  serve.stderr!.on('data', (d: Buffer) => (ready ||= d.toString().includes('"msg":"ready"')));
  await until(() => ready, 20_000, 'serve ready');
  const clients = Array.from({ length: agents }, (_, i) => testAgent(pki, `b${i}`, port, events.header));
  const per = Math.floor(events.events.length / agents);
  const t0 = performance.now();
  clients.forEach((c) => c.start());
  // push in slices so the agents' timers and sockets get the loop too
  for (let off = 0; off < per; off += 2000) {
    for (const [i, c] of clients.entries()) for (const ev of events.events.slice(i * per + off, i * per + Math.min(off + 2000, per))) c.push(ev);
    await new Promise((r) => setImmediate(r));
  }
  const stats = await Promise.all(clients.map((c) => c.close(600_000)));
  const seconds = (performance.now() - t0) / 1000;
  serve.kill('SIGINT');
  await new Promise((r) => serve.once('exit', r));
  if (stats.some((s) => s.spooled > 0 || s.dropped > 0)) throw new Error(`not all events were acknowledged: ${JSON.stringify(stats)}`);
  return (per * agents) / seconds;
}

export async function benchAgentLink(n: number): Promise<AgentLinkBench> {
  const dir = mkdtempSync(join(tmpdir(), 'cw-bench-agent-'));
  try {
    const pki = testPki(Array.from({ length: 8 }, (_, i) => `b${i}`).concat(['lat']));
    const file = join(dir, 'bench.trace.jsonl');
    const count = makeTrace(file, n);
    const synthetic = await traceEvents(file);
    const one = await throughput(1, synthetic, pki, dir);
    const eight = await throughput(8, synthetic, pki, dir);
    // latency: a recorded exfiltration pushed by an agent; from the push of the transmit to the finding on the host
    const exfil = await traceEvents('replays/curl-put-shadow.trace.jsonl.gz');
    let foundAt = 0;
    const serve = new TestServe(pki, mkdtempSync(join(dir, 'lat-')), {
      policy: undefined,
      onFinding: (f) => {
        if (f.rule === 'exfil.read-then-transmit') foundAt ||= performance.now();
      },
    });
    const port = await serve.start();
    const lat: number[] = [];
    for (let i = 0; i < 30; i++) {
      const agent = testAgent(pki, 'lat', port, exfil.header);
      agent.start();
      await until(() => (agent as unknown as { welcomed: boolean }).welcomed, 5000, 'welcome');
      foundAt = 0;
      let pushedAt = 0;
      for (const ev of exfil.events) {
        agent.push(ev);
        if (ev.kind === 'io' && ev.dir === 'out') pushedAt ||= performance.now();
      }
      await until(() => foundAt > 0, 5000, 'finding');
      lat.push(foundAt - pushedAt);
      await agent.close(2000);
    }
    await serve.close();
    lat.sort((a, b) => a - b);
    return { events: count, oneAgentPerS: one, eightAgentsPerS: eight, findingLatencyMs: { p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.floor(lat.length * 0.99)]!, samples: lat.length } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
