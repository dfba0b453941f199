import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { connect as netConnect, createServer as netCreateServer } from 'node:net';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminReload, adminStatus, type ReloadReply } from './admin-server.js';
import { SERVICE_PATH } from './agent-protocol.js';
import { issueCerts } from './cert-authority.js';
import { loadTlsFiles, type TlsMaterial } from './tls-files.js';
import { TestServe, testAgent, testPki, traceEvents, until } from '../testing/agent-link.js';
import { SmallDisk } from '../testing/small-disk.js';
import { samples, scrape } from '../testing/prometheus.js';
import type { Event } from '../schema/event.js';

/**
 * The agent link for real: gRPC over loopback with mutual TLS, certificates
 * from chainwatch certs, the host pipeline of chainwatch serve. Events come
 * from a recorded trace (the probes are tested elsewhere; the live netns
 * test runs the whole thing).
 */
const pki = testPki(['sb1', 'sb2']);
const trace = 'replays/curl-put-shadow.trace.jsonl.gz';
let serve: TestServe;
let recorded: Awaited<ReturnType<typeof traceEvents>>;

const material = (cert: string, key: string, ca = pki.ca): TlsMaterial => ({
  cert: readFileSync(cert),
  key: readFileSync(key),
  ca: readFileSync(ca),
  sandbox: undefined,
  notAfter: new Date(),
});
const payloadKinds = (evs: Event[]): number => evs.filter((e) => e.kind !== 'task.cgroup' && e.kind !== 'loss').length;

beforeAll(async () => {
  recorded = await traceEvents(trace);
  serve = new TestServe(pki);
  await serve.start();
});
afterAll(async () => {
  await serve?.close();
});

describe('agent → serve over mutual TLS', () => {
  it('a recorded exfiltration streamed by an agent is a finding on the host, attributed to the sandbox its certificate names', async () => {
    const before = serve.events.length;
    const agent = testAgent(pki, 'sb1', serve.port, recorded.header);
    agent.start();
    for (const ev of recorded.events) agent.push(ev);
    const stats = await agent.close(15_000);
    expect(stats.spooled).toBe(0);
    expect(stats.dropped).toBe(0);
    await until(() => serve.findings.some((f) => f.rule === 'exfil.read-then-transmit' && f.task === 'sb1'), 5000, 'the exfiltration finding');
    const f = serve.findings.find((x) => x.rule === 'exfil.read-then-transmit' && x.task === 'sb1')!;
    const expected = JSON.parse(readFileSync('replays/curl-put-shadow.findings.jsonl', 'utf8').split('\n')[0]!);
    expect(f.source).toEqual(expected.source);
    expect(f.sink).toEqual(expected.sink);
    expect(f.process).toEqual(expected.process);
    expect(f.chain.map((c) => c.syscall)).toEqual(expected.chain.map((c: { syscall: string }) => c.syscall));
    // every event arrived once, each attributed to sb1
    const got = serve.events.slice(before);
    expect(payloadKinds(got)).toBe(payloadKinds(recorded.events));
    expect(got.filter((e) => e.proc !== undefined).every((e) => e.proc!.task === 'sb1')).toBe(true);
    // the agent is reported with its clock: same machine, so the true offset is 0 and must lie within the bound
    const st = (await adminStatus(serve.admin)) as { agents: { sandbox: string; clock: { offset_ns: string; error_ns: string }; gaps: number; next_seq: number }[] };
    const a = st.agents.find((x) => x.sandbox === 'sb1')!;
    expect(a.gaps).toBe(0);
    expect(a.next_seq).toBe(recorded.events.length);
    const off = BigInt(a.clock.offset_ns);
    expect(off < 0n ? -off : off).toBeLessThanOrEqual(BigInt(a.clock.error_ns) + 1n);
    // the read's first call and the send on one clock (the host's): the latency where it was recorded, within what the offset estimate may move
    expect(Math.abs(f.latency_ms - expected.latency_ms)).toBeLessThanOrEqual((2 * Number(a.clock.error_ns)) / 1e6 + 0.001);
  }, 60_000);

  it('refuses, each with a log line saying why: another CA, an expired certificate, a host certificate, plain TCP, a claim to be another sandbox', async () => {
    const other = testPki(['sb1']);
    const expired = issueCerts({ dir: pki.dir, hostNames: [], sandboxes: ['old'], days: 1, window: { start: '20200101000000Z', end: '20200102000000Z' } });
    const attempts: [string, TlsMaterial, string, RegExp][] = [
      ['wrong CA', material(other.agents.sb1!.cert, other.agents.sb1!.key), 'sb1', /not issued by the chainwatch CA|chains to another CA/],
      ['expired', material(expired.agents.old!.cert, expired.agents.old!.key), 'old', /expired/],
      ['host cert', material(pki.host!.cert, pki.host!.key), 'sb1', /names no sandbox|not for client authentication/],
      ['other sandbox', material(pki.agents.sb2!.cert, pki.agents.sb2!.key), 'sb1', /says it is sandbox "sb1" but its certificate names sb2/],
    ];
    for (const [what, tls, sandbox, reason] of attempts) {
      const n = serve.refused.length;
      const before = serve.events.length;
      const agent = testAgent(pki, 'sb1', serve.port, recorded.header, { tls, sandbox });
      agent.start();
      agent.push(recorded.events[0]!);
      await until(() => serve.refused.length > n, 5000, `refusal of ${what}`);
      await agent.close(50);
      expect(serve.refused.slice(n).map((r) => r.reason).join(' | '), what).toMatch(reason);
      expect(serve.events.length, `${what}: nothing arrives`).toBe(before);
    }
    // plain TCP speaking h2c
    const n = serve.refused.length;
    const sock = netConnect(serve.port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    await until(() => serve.refused.length > n, 5000, 'refusal of plain TCP');
    sock.destroy();
    expect(serve.refused[n]!.reason).toMatch(/did not speak TLS/);
  }, 60_000);

  it('offers nothing but StreamEvents to agents: every other method is UNIMPLEMENTED', async () => {
    const tls = loadTlsFiles({ cert: pki.agents.sb1!.cert, key: pki.agents.sb1!.key, ca: pki.ca }, 'agent');
    const client = new Client(`127.0.0.1:${serve.port}`, credentials.createSsl(tls.ca, tls.key, tls.cert));
    const methods = [
      '/chainwatch.admin.v1.Admin/Status',
      '/chainwatch.admin.v1.Admin/ReloadPolicy',
      '/chainwatch.agent.v1.EventIngest/ReloadPolicy',
      '/chainwatch.agent.v1.EventIngest/SetPolicy',
      '/chainwatch.agent.v1.EventIngest/GetPolicy',
      '/chainwatch.agent.v1.EventIngest/GrantCapability',
      '/chainwatch.agent.v1.EventIngest/SilenceFindings',
      '/chainwatch.agent.v1.EventIngest/SetSandbox',
      '/chainwatch.agent.v1.EventIngest/Status',
      '/chainwatch.agent.v1.Policy/Update',
      '/chainwatch.v1.Admin/Reload',
      '/grpc.health.v1.Health/Check',
      '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
      '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      '/grpc.channelz.v1.Channelz/GetServers',
      '/chainwatch.agent.v1.EventIngest/StreamEvents/../ReloadPolicy',
    ];
    for (const m of methods) {
      const code = await new Promise<number>((resolve) =>
        client.makeUnaryRequest(m, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e: ServiceError | null) => resolve(e ? e.code : status.OK)),
      );
      expect(code, m).toBe(status.UNIMPLEMENTED);
    }
    client.close();
  }, 60_000);

  it('malformed input is rejected without taking the host down: garbage protobuf, non-JSON and off-schema events', async () => {
    const tls = loadTlsFiles({ cert: pki.agents.sb2!.cert, key: pki.agents.sb2!.key, ca: pki.ca }, 'agent');
    const client = new Client(`127.0.0.1:${serve.port}`, credentials.createSsl(tls.ca, tls.key, tls.cert));
    const call = client.makeBidiStreamRequest(SERVICE_PATH, (x: Buffer) => x, (x: Buffer) => x);
    const ended = new Promise<string>((resolve) => {
      call.on('error', (e: ServiceError) => resolve(status[e.code]));
      call.on('end', () => resolve('end'));
      call.on('data', () => undefined);
    });
    call.write(Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x02, 0xde, 0xad]));
    expect(await ended).not.toBe('OK');
    client.close();
    // a well-formed stream with bad events inside: the bad ones are counted and reported, the good ones processed
    const before = serve.events.length;
    const agent = testAgent(pki, 'sb2', serve.port, recorded.header);
    agent.start();
    agent.push(recorded.events[0]!);
    (agent as unknown as { batch: string[] }).batch.push('{not json', JSON.stringify({ kind: 'io', ts: -5 }));
    for (const ev of recorded.events.slice(1, 50)) agent.push(ev);
    await agent.close(10_000);
    await until(() => serve.findings.some((f) => f.rule === 'agent.malformed' && f.task === 'sb2'), 5000, 'a malformed-event finding');
    expect(payloadKinds(serve.events.slice(before))).toBe(payloadKinds(recorded.events.slice(0, 50)));
    const st = (await adminStatus(serve.admin)) as { agents: { sandbox: string; malformed: number }[] };
    expect(st.agents.find((a) => a.sandbox === 'sb2')!.malformed).toBe(2);
  }, 60_000);

  it('admin reload puts changed rules in force in running lanes, refuses broken ones (the rules in force stay), and the audit log records each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-serve-rules-'));
    const rulesDir = join(dir, 'rules');
    cpSync('rules', rulesDir, { recursive: true });
    const chains = join(rulesDir, 'chains.yaml');
    const shipped = readFileSync(chains, 'utf8');
    const s3 = new TestServe(pki, join(dir, 'serve'), { rulesDir, audit: { dir: join(dir, 'audit') } });
    await s3.start();
    const push = async (sandbox: string): Promise<void> => {
      const agent = testAgent(pki, sandbox, s3.port, recorded.header);
      agent.start();
      for (const ev of recorded.events) agent.push(ev);
      await agent.close(15_000);
      await until(() => s3.findings.some((f) => f.rule === 'exfil.read-then-transmit' && f.task === sandbox), 5000, `the exfiltration of ${sandbox}`);
    };
    let same!: ReloadReply;
    let changed!: ReloadReply;
    try {
      await push('sb1');
      expect(s3.findings.map((f) => f.rule)).not.toContain('t.curl-ran');
      // unchanged: nothing to put in force
      same = await adminReload(s3.admin);
      expect(same).toMatchObject({ ok: true, rules_changed: false, new_sha256: '' });
      expect(same.rules).toHaveLength(2);
      expect(same.rules[1]).toMatch(/rules\/chains\.yaml [0-9a-f]{64}$/);
      // a new rule, reloaded while sb2's lane runs: in force in that lane from then on
      const exec = recorded.events.findIndex((e) => e.kind === 'process.exec' && e.filename.endsWith('/curl'));
      expect(exec).toBeGreaterThan(0);
      const agent = testAgent(pki, 'sb2', s3.port, recorded.header);
      agent.start();
      for (const ev of recorded.events.slice(0, exec)) agent.push(ev);
      await until(() => s3.events.filter((e) => e.proc?.task === 'sb2').length >= exec - 5, 5000, 'the first part of sb2 on the host');
      writeFileSync(chains, `${shipped}\n  - id: t.curl-ran\n    category: policy\n    severity: low\n    why: curl ran\n    sequence:\n      by: process\n      steps:\n        - match: { kind: process.exec, filename: { glob: "**/curl" } }\n`);
      changed = await adminReload(s3.admin);
      expect(changed).toMatchObject({ ok: true, rules_changed: true });
      expect(changed.rules[1]).not.toBe(same.rules[1]);
      for (const ev of recorded.events.slice(exec)) agent.push(ev);
      await agent.close(15_000);
      await until(() => s3.findings.some((f) => f.rule === 't.curl-ran' && f.task === 'sb2'), 5000, 'the new rule firing in the running lane');
      expect(s3.findings.some((f) => f.rule === 'exfil.read-then-transmit' && f.task === 'sb2')).toBe(true);
      // broken: refused with its place, the rules in force stay
      writeFileSync(chains, shipped.replace('kind: flow.transmit, data_class', 'kind: flow.transmitt, data_class'));
      const bad = await adminReload(s3.admin);
      expect(bad).toMatchObject({ ok: false, rules_changed: false });
      expect(bad.error).toMatch(/chains\.yaml:\d+:\d+: rules\.0\.sequence\.steps\.0\.match\.kind: no input has kind "flow\.transmitt"; did you mean flow\.transmit\?/);
      expect(bad.rules).toEqual(changed.rules);
    } finally {
      await s3.close();
    }
    const records = readFileSync(join(dir, 'audit', 'audit-000001.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>);
    const start = records.find((r) => r.type === 'start')!;
    expect(JSON.stringify(start)).toContain(same.rules[1]!.split(' ')[1]!);
    const reloads = records.filter((r) => r.type === 'rules-reload');
    expect(reloads).toHaveLength(2);
    expect(JSON.stringify(reloads[0])).toContain('"accepted":true');
    expect(JSON.stringify(reloads[0])).toContain(changed.rules[1]!.split(' ')[1]!);
    expect(JSON.stringify(reloads[1])).toContain('"accepted":false');
    expect(JSON.stringify(reloads[1])).toContain('flow.transmitt');
  }, 90_000);

  it('admin socket: status and policy reload (a broken policy is refused, the one in force stays)', async () => {
    const dir = serve.stateDir;
    const good = join(dir, 'policy.yaml');
    writeFileSync(good, 'version: 1\nintents: {}\n');
    const s2 = new TestServe(pki, dir + '-b', { policyFile: good });
    await s2.start();
    try {
      const ok = await adminReload(s2.admin);
      expect(ok.ok).toBe(true);
      expect(ok.new_sha256).toMatch(/^[0-9a-f]{64}$/);
      writeFileSync(good, 'version: 1\nintents: [\n');
      const bad = await adminReload(s2.admin);
      expect(bad.ok).toBe(false);
      expect(bad.error).toMatch(/policy\.yaml/);
      const st = (await adminStatus(s2.admin)) as { policy_sha256: string };
      expect(st.policy_sha256).toBe(ok.new_sha256);
    } finally {
      await s2.close();
    }
  }, 60_000);
});

describe('reliability', () => {
  it('the host stopped and restarted mid-stream loses no events: the agent spools, resends, the host skips what it holds', async () => {
    const pki2 = testPki(['sbr']);
    const a = new TestServe(pki2);
    const port = await a.start();
    const agent = testAgent(pki2, 'sbr', port, recorded.header, { batchEvents: 20 });
    agent.start();
    const evs = recorded.events;
    const half = Math.floor(evs.length / 2);
    for (const ev of evs.slice(0, half)) agent.push(ev);
    await until(() => a.events.length > 20, 5000, 'the first events on host A');
    await a.close(); // the host goes away mid-stream
    for (const ev of evs.slice(half)) agent.push(ev); // spooled meanwhile
    await new Promise((r) => setTimeout(r, 300));
    const b = new TestServe(pki2, a.stateDir);
    await b.start(port);
    const stats = await agent.close(15_000);
    expect(stats.spooled).toBe(0);
    expect(stats.connects).toBeGreaterThanOrEqual(2);
    // together, the two hosts saw every event exactly once
    expect(payloadKinds(a.events) + payloadKinds(b.events)).toBe(payloadKinds(evs));
    const st = (await adminStatus(b.admin)) as { agents: { sandbox: string; gaps: number; next_seq: number }[] };
    const s = st.agents.find((x) => x.sandbox === 'sbr')!;
    expect(s.gaps).toBe(0);
    expect(s.next_seq).toBe(evs.length);
    expect(b.findings.filter((f) => f.rule === 'agent.gap')).toEqual([]);
    await b.close();
  }, 60_000);

  it('a full spool drops, counts and reports: the host gets a loss event and an integrity finding with the number', async () => {
    const pki3 = testPki(['sbd']);
    const s = new TestServe(pki3);
    const port = await s.start();
    await s.close(); // nothing listens: the agent spools until its bound
    const agent = testAgent(pki3, 'sbd', port, recorded.header, { batchEvents: 10, maxSpoolBatches: 2 });
    agent.start();
    for (const ev of recorded.events.slice(0, 100)) agent.push(ev);
    await new Promise((r) => setTimeout(r, 200));
    const s2 = new TestServe(pki3, s.stateDir);
    await s2.start(port);
    await until(() => s2.events.length > 0, 10_000, 'reconnect');
    // the two spooled batches acknowledged: the spool has room again, so only the 80 from the outage are dropped
    await until(() => agent.stats.spooled === 0, 10_000, 'the spool drained');
    for (const ev of recorded.events.slice(100, 120)) agent.push(ev);
    const stats = await agent.close(10_000);
    expect(stats.dropped).toBe(80);
    await until(() => s2.findings.some((f) => f.rule === 'agent.dropped'), 5000, 'the drop finding');
    expect(s2.findings.find((f) => f.rule === 'agent.dropped')!.summary).toMatch(/dropped 80 events/);
    expect(s2.events.filter((e) => e.kind === 'loss').map((e) => (e as { events: number; source: string })).map((e) => [e.events, e.source])).toEqual([[80, 'agent-spool']]);
    await s2.close();
  }, 60_000);

  it('the host cannot write its outputs (a full disk): acknowledgements wait, the agent keeps the events, and once there is space each is written exactly once', async () => {
    const disk = new SmallDisk(4 << 20);
    try {
      const pki4 = testPki(['sbf']);
      const eventsFile = join(disk.dir, 'events.jsonl');
      const s = new TestServe(pki4, undefined, { events: eventsFile, findings: join(disk.dir, 'findings.jsonl') });
      const port = await s.start();
      disk.fill(0);
      const agent = testAgent(pki4, 'sbf', port, recorded.header, { batchEvents: 20 });
      agent.start();
      for (const ev of recorded.events) agent.push(ev);
      await until(() => s.events.length >= recorded.events.length, 10_000, 'the events analysed on the host');
      // analysed, not acknowledged: the agent still holds them
      await new Promise((r) => setTimeout(r, 1500));
      expect(agent.stats.ackedUpTo).toBe(0);
      disk.free();
      const stats = await agent.close(15_000);
      expect(stats.spooled).toBe(0);
      expect(stats.ackedUpTo).toBe(recorded.events.length);
      const summary = await s.close();
      expect(summary.acksWithheld).toBeGreaterThan(0);
      expect(summary.outputFailures).toEqual([]);
      const written = readFileSync(eventsFile, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as Event);
      expect(payloadKinds(written)).toBe(payloadKinds(recorded.events));
      const order = (evs: Event[]): unknown[] => evs.filter((e) => e.kind !== 'task.cgroup' && e.kind !== 'loss').map((e) => [e.kind, e.pid, e.tid]);
      expect(order(written)).toEqual(order(recorded.events));
      expect(s.findings.some((f) => f.rule === 'exfil.read-then-transmit')).toBe(true);
      expect(readFileSync(join(disk.dir, 'findings.jsonl'), 'utf8').split('\n').slice(0, -1).map((l) => (JSON.parse(l) as { rule: string }).rule)).toEqual(s.findings.map((f) => f.rule));
    } finally {
      disk.unmount();
    }
  }, 60_000);

  it('serve --metrics: the agents, their events, the findings and the losses are counters a Prometheus server can scrape', async () => {
    const pki5 = testPki(['sbm']);
    let metricsPort = 0;
    const s = new TestServe(pki5, undefined, { metrics: { host: '127.0.0.1', port: 0 }, onMetrics: (p) => (metricsPort = p) });
    const port = await s.start();
    const agent = testAgent(pki5, 'sbm', port, recorded.header);
    agent.start();
    for (const ev of recorded.events) agent.push(ev);
    await until(() => s.findings.some((f) => f.rule === 'exfil.read-then-transmit'), 10_000, 'the finding');
    const during = samples((await scrape(metricsPort)).body);
    expect(during.get('chainwatch_agents_connected')).toBe(1);
    expect(during.get('chainwatch_agent_lanes')).toBe(1);
    const stats = await agent.close(10_000);
    expect(stats.spooled).toBe(0);
    const m = samples((await scrape(metricsPort)).body);
    expect(m.get('chainwatch_agent_events_total{outcome="received"}')).toBe(recorded.events.length);
    expect(m.get('chainwatch_agent_events_total{outcome="malformed"}')).toBe(0);
    expect(m.get('chainwatch_events_total')).toBe(s.events.length);
    expect(m.get('chainwatch_findings_total{rule="exfil.read-then-transmit",severity="high",category="exfiltration"}')).toBe(1);
    expect(m.get('chainwatch_agent_acks_withheld_total')).toBe(0);
    expect([...m.keys()].some((k) => k.startsWith('chainwatch_policy_info{sha256="'))).toBe(true);
    expect([...m.keys()].filter((k) => k.startsWith('chainwatch_rules_info{')).map((k) => k.replace(/^.*file="[^"]*\/([^/"]+)",sha256="[0-9a-f]{64}"}$/, '$1'))).toEqual(['data-classes.yaml', 'chains.yaml']);
    await s.close();
    await expect(scrape(metricsPort)).rejects.toThrow();
  }, 60_000);

  it('serve --events-rotate: the agent\'s events land in parts of about the size asked, in order across them, each written once', async () => {
    const pki6 = testPki(['sbr2']);
    const out = mkdtempSync(join(tmpdir(), 'cw-serve-rot-'));
    const s = new TestServe(pki6, undefined, { events: join(out, 'events.jsonl'), eventsRotate: { bytes: 20_000 } });
    const port = await s.start();
    const agent = testAgent(pki6, 'sbr2', port, recorded.header);
    agent.start();
    for (const ev of recorded.events) agent.push(ev);
    expect((await agent.close(10_000)).spooled).toBe(0);
    await s.close();
    const parts = readdirSync(out).filter((f) => /^events\.\d+\.jsonl$/.test(f)).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
    expect(parts.length).toBeGreaterThanOrEqual(2);
    const written = [...parts, 'events.jsonl'].flatMap((f) => readFileSync(join(out, f), 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as Event));
    const order = (evs: Event[]): unknown[] => evs.filter((e) => e.kind !== 'task.cgroup' && e.kind !== 'loss').map((e) => [e.kind, e.pid, e.tid]);
    expect(order(written)).toEqual(order(recorded.events));
  }, 60_000);

  it('serve that cannot start its metrics endpoint (a port in use): a usage error, and its audit run is closed with the reason', async () => {
    const busy = netCreateServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    const audit = mkdtempSync(join(tmpdir(), 'cw-serve-audit-'));
    try {
      const s = new TestServe(testPki(['sbx']), undefined, { metrics: { host: '127.0.0.1', port }, audit: { dir: audit } });
      await expect(s.start()).rejects.toThrow(/cannot serve metrics on 127\.0\.0\.1:\d+: listen EADDRINUSE/);
      const records = readFileSync(join(audit, 'audit-000001.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; reason?: string });
      expect(records.find((r) => r.type === 'shutdown')?.reason).toMatch(/^failed: cannot serve metrics/);
      expect(records.at(-1)!.type).toBe('checkpoint');
    } finally {
      busy.close();
    }
  });

  it('a sandbox gone: its lane is kept a while after its stream ended, then retired; the same sandbox coming back later gets a fresh lane', async () => {
    const s = new TestServe(pki, undefined, { laneRetireMs: 1500 });
    await s.start();
    const lanes = async (): Promise<{ lanes: number; lanes_retired: number }> => (await adminStatus(s.admin)) as { lanes: number; lanes_retired: number };
    const a = testAgent(pki, 'sb1', s.port, recorded.header);
    a.start();
    for (const ev of recorded.events) a.push(ev);
    await a.close(15_000);
    await until(() => s.findings.some((f) => f.rule === 'exfil.read-then-transmit' && f.task === 'sb1'), 5000, 'the exfiltration finding');
    expect(await lanes()).toMatchObject({ lanes: 1, lanes_retired: 0 });
    let st = await lanes();
    for (let i = 0; i < 100 && st.lanes_retired === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = await lanes();
    }
    expect(st).toMatchObject({ lanes: 0, lanes_retired: 1 });
    // the same sandbox again, a new run: a fresh lane, analysed as before
    const b = testAgent(pki, 'sb1', s.port, recorded.header);
    b.start();
    for (const ev of recorded.events) b.push(ev);
    await b.close(15_000);
    await until(() => s.events.filter((e) => e.kind === 'task.cgroup' && e.task === 'sb1').length >= 2, 5000, 'the second run named');
    expect(await lanes()).toMatchObject({ lanes: 1, lanes_retired: 1 });
    await s.close();
  }, 60_000);

  it('an agent that goes silent is cut off and reported', async () => {
    const tls = loadTlsFiles({ cert: pki.agents.sb1!.cert, key: pki.agents.sb1!.key, ca: pki.ca }, 'agent');
    const { agentProtocol } = await import('./agent-protocol.js');
    const { Client: C } = agentProtocol();
    const client = new C(`127.0.0.1:${serve.port}`, credentials.createSsl(tls.ca, tls.key, tls.cert));
    const call = client.StreamEvents();
    call.on('error', () => undefined);
    let answered = false;
    call.on('data', (m) => {
      // answer the first clock probe, then play dead
      if (m.clock && !answered) {
        answered = true;
        call.write({ clock: { host_mono_ns: m.clock.host_mono_ns, agent_mono_ns: process.hrtime.bigint().toString(), agent_wall_ns: '0' } });
      }
    });
    call.write({ hello: { sandbox: 'sb1', run: 'silent-run', first_unacked: '0', header_json: JSON.stringify(recorded.header), agent_version: 'test' } });
    await until(() => serve.findings.some((f) => f.rule === 'agent.disconnected' && /silent/.test(f.summary)), 10_000, 'the silence finding');
    client.close();
  }, 60_000);
});
