import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLiveSession, type LiveSessionOptions, type LiveSessionSummary } from '../pipeline/live-session.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import { cgroupV2Root } from '../source/cgroups.js';
import { scratchWithKey } from './scenarios.js';

export interface ScenarioResult {
  events: Event[];
  /** Findings raised by this scenario's processes. */
  findings: Finding[];
  code: number | null;
  stdout: string;
  stderr: string;
  cgroup: number;
}

/**
 * Test harness for live kernel tests: one chainwatch session watching a
 * test cgroup; each scenario runs in a child cgroup of its own (created
 * after the probes attached, so the in-kernel cgroup_mkdir path is
 * exercised too) and gets back exactly its own resolved events.
 *
 * Never skips: without root, bpftrace or tracepoints, start() throws and
 * the tests fail loudly.
 */
export interface RunOptions {
  /**
   * Wait for the script's exit event before returning (default). A run that
   * overloads the probes on purpose may lose that very event: it passes false,
   * or 'unless-lost' to wait for it but stop waiting if the kernel reported
   * lost events during the run (which may have taken it).
   */
  waitForExitEvent?: boolean | 'unless-lost';
}

export class LiveHarness {
  readonly events: Event[] = [];
  /** The same events by cgroup, and the loss events: a run's own are found without scanning all the session's. */
  private readonly byCgroup = new Map<number, Event[]>();
  private readonly losses: Event[] = [];
  readonly findings: Finding[] = [];
  readonly root: string;
  readonly cgRoot: string;
  private session: Promise<LiveSessionSummary> | undefined;
  private stop!: () => void;
  summary: LiveSessionSummary | undefined;

  constructor(name: string, private readonly extra: Partial<LiveSessionOptions> = {}) {
    if (process.getuid?.() !== 0) throw new Error('live kernel tests need root');
    this.cgRoot = cgroupV2Root();
    this.root = `/chainwatch-test-${name}-${process.pid}`;
    mkdirSync(join(this.cgRoot, this.root), { recursive: true });
  }

  /** Makes a child cgroup now (before start(): for processes that must predate monitoring). */
  cgroup(name: string): { path: string; id: number } {
    const path = `${this.root}/${name}`;
    mkdirSync(join(this.cgRoot, path), { recursive: true });
    return { path, id: Number(statSync(join(this.cgRoot, path)).ino) };
  }

  async start(): Promise<void> {
    const stopped = new Promise<void>((r) => (this.stop = r));
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    this.session = runLiveSession({
      target: { mode: 'cgroup', path: this.root },
      stopSignal: stopped,
      onEvent: (ev) => {
        this.events.push(ev);
        if (ev.kind === 'loss') this.losses.push(ev);
        let list = this.byCgroup.get(ev.cgroup);
        if (list === undefined) this.byCgroup.set(ev.cgroup, (list = []));
        list.push(ev);
      },
      onFinding: (f) => this.findings.push(f),
      onReady: () => ready(),
      ...this.extra,
    });
    await Promise.race([isReady, this.session.then(() => { throw new Error('session ended before it was ready'); })]);
  }

  /**
   * Stops the session (once; later calls return the same summary). Every
   * live test's session also holds the binary record layouts it used to
   * bpftrace's own text of them: a layout that disagreed fails the test file.
   */
  async close(): Promise<LiveSessionSummary> {
    if (this.summary) return this.summary;
    this.stop();
    this.summary = await this.session!;
    const d = this.summary.decoder;
    if (d.layoutsWrong > 0) throw new Error(`${d.layoutsWrong} binary record layout(s) disagreed with bpftrace's text of the same record (see the malformed-line warnings)`);
    return this.summary;
  }

  /**
   * Runs `bash -c script` inside a fresh child cgroup and returns that
   * cgroup's events once the script's process has exited and its events
   * have come through.
   */
  async run(name: string, script: string, env: Record<string, string> = {}, opts: RunOptions = {}): Promise<ScenarioResult> {
    const cg = this.cgroup(name);
    return this.runIn(cg, script, env, opts);
  }

  async runIn(cg: { path: string; id: number }, script: string, env: Record<string, string> = {}, opts: RunOptions = {}): Promise<ScenarioResult> {
    const procs = join(this.cgRoot, cg.path, 'cgroup.procs');
    const lossesBefore = this.losses.length;
    const child = spawn('/bin/bash', ['-c', `echo $$ > ${procs} && exec /bin/bash -c "$CW_SCRIPT"`], {
      env: { ...process.env, ...env, CW_SCRIPT: script },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const pid = child.pid!;
    if (opts.waitForExitEvent !== false) {
      try {
        await this.waitFor((e) => e.kind === 'process.exit' && e.pid === pid && e.group_dead, 15_000);
      } catch (e) {
        const lost = this.losses.length > lossesBefore;
        if (!(opts.waitForExitEvent === 'unless-lost' && lost)) throw e;
      }
    }
    await sleep(400); // stragglers from other CPUs and the reorder window
    const events = [...(this.byCgroup.get(cg.id) ?? [])];
    const pids = new Set(events.map((e) => e.pid));
    return { events, findings: this.findings.filter((f) => pids.has(f.process.pid)), code, stdout, stderr, cgroup: cg.id };
  }

  async waitFor(pred: (e: Event) => boolean, timeoutMs: number): Promise<Event> {
    const until = Date.now() + timeoutMs;
    // each event is tested once: a poll looks only at what arrived since the last
    for (let from = 0; ; ) {
      const to = this.events.length;
      for (let i = from; i < to; i++) if (pred(this.events[i]!)) return this.events[i]!;
      from = to;
      if (Date.now() > until) throw new Error('timed out waiting for an event');
      await sleep(20);
    }
  }

  cleanup(): void {
    const dir = join(this.cgRoot, this.root);
    if (!existsSync(dir)) return;
    for (const sub of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
      try {
        rmdirSync(join(dir, sub));
      } catch {
        // still populated: left for the kernel to reap
      }
    }
    try {
      rmdirSync(dir);
    } catch {
      // still populated
    }
  }
}

/** Starts `server` on a free port of `address`; resolves with the port. */
async function listening(server: Server, address: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, address, () => r()));
  const addr = server.address();
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

/** An HTTP server (on 127.0.0.2 unless told) that reads every request body, answers 200 with `body`, and counts what it received. */
export async function httpSink(body = 'hello from 127.0.0.2\n', address = '127.0.0.2'): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = createHttpServer((req, res) => {
    req.on('data', (d: Buffer) => (received += d.length));
    req.on('end', () => res.end(body));
  });
  return {
    port: await listening(server, address),
    received: () => received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A TCP listener on 127.0.0.2 that collects what it receives. */
export async function tcpSink(address = '127.0.0.2'): Promise<{ port: number; received: () => Buffer; close: () => Promise<void>; server: Server }> {
  const chunks: Buffer[] = [];
  const server = createServer((s) => {
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
  });
  return {
    port: await listening(server, address),
    server,
    received: () => Buffer.concat(chunks),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A TCP listener on 127.0.0.2 that sends `exit` to every connection, so a reverse shell on the other end ends by itself. */
export async function shellListener(address = '127.0.0.2'): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.write('exit\n');
  });
  return {
    port: await listening(server, address),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * A python3 process outside the watched task, listening on the unix socket
 * `sock` for one descriptor passed with SCM_RIGHTS; it reads the file through
 * that descriptor. Resolves once it listens; `exited` resolves when it has
 * ended, with the number of bytes it read.
 */
export async function outsideFdReceiver(sock: string): Promise<{ exited: Promise<number> }> {
  const receiver = spawn('python3', ['-c', `
import socket, array, os, sys
srv = socket.socket(socket.AF_UNIX); srv.bind("${sock}"); srv.listen(1)
sys.stdout.write("ready\\n"); sys.stdout.flush()
conn, _ = srv.accept()
msg, anc, flags, addr = conn.recvmsg(1, socket.CMSG_SPACE(4))
got = array.array("i"); got.frombytes(anc[0][2])
sys.stdout.write(str(len(os.read(got[0], 100000))) + "\\n"); sys.stdout.flush()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  receiver.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((res) => receiver.once('exit', () => res(Number(out.split('\n')[1]))));
  await new Promise<void>((r) => receiver.stdout!.once('data', () => r()));
  return { exited };
}

export function ofKind<K extends Event['kind']>(events: Event[], kind: K): Extract<Event, { kind: K }>[] {
  return events.filter((e): e is Extract<Event, { kind: K }> => e.kind === kind);
}

/** A started harness, a TCP sink on 127.0.0.2, a scratch secret (DIR/.ssh/id_rsa) and a test program built into DIR. */
export interface ExfilBench {
  h: LiveHarness;
  tcp: Awaited<ReturnType<typeof tcpSink>>;
  dir: string;
  key: string;
  bin: string;
  /** Stops the session and the sink, and removes the harness' cgroups. */
  close: () => Promise<void>;
}

/**
 * What a test of one exfiltration program needs: the secret holding
 * `keyText`, the program built by `build` (which throws when it cannot: the
 * test fails loudly, it does not skip), a sink and a started harness.
 */
export async function startExfilBench(name: string, keyText: string, build: (dir: string) => string): Promise<ExfilBench> {
  const { dir, key } = scratchWithKey(`cw-${name}-`, keyText);
  const bin = build(dir);
  const tcp = await tcpSink();
  const h = new LiveHarness(name);
  await h.start();
  return {
    h, tcp, dir, key, bin,
    close: async () => {
      await h.close();
      await tcp.close();
      h.cleanup();
    },
  };
}
