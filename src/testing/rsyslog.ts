import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real rsyslog (Debian's rsyslogd) for tests: imtcp on 127.0.0.1, plain or
 * with the gtls driver in x509/certvalid mode (client certificates required),
 * maxMessageSize 64k, writing every message with RSYSLOG_SyslogProtocol23Format
 * to a file. The config is checked with `rsyslogd -N1` first.
 */
export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'cw-certs-'));
  const o = (...a: string[]): void => void execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
  o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=chainwatch test CA');
  for (const who of ['server', 'client']) {
    o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? '127.0.0.1' : 'chainwatch-agent'}`);
    writeFileSync(join(dir, `${who}.ext`), who === 'server' ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
    o('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2', '-extfile', `${who}.ext`);
  }
  return { dir, ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key') };
}

/** A TCP port nothing listens on right now (on `address`, 127.0.0.1 unless told). */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, address, () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export class TestRsyslog {
  readonly dir = mkdtempSync(join(tmpdir(), 'cw-rsyslog-'));
  readonly out = join(this.dir, 'messages.log');
  port = 0;
  private child: ChildProcess | undefined;

  constructor(private readonly certs?: TestCerts) {}

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    mkdirSync(join(this.dir, 'work'), { recursive: true });
    const tls = this.certs;
    const conf = [
      `global(workDirectory="${this.dir}/work" maxMessageSize="64k"${tls ? ` defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${tls.ca}" defaultNetstreamDriverCertFile="${tls.serverCert}" defaultNetstreamDriverKeyFile="${tls.serverKey}"` : ''})`,
      `module(load="imtcp"${tls ? ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid"' : ''})`,
      `input(type="imtcp" address="127.0.0.1" port="${this.port}")`,
      `action(type="omfile" file="${this.out}" template="RSYSLOG_SyslogProtocol23Format")`,
    ].join('\n');
    const file = join(this.dir, 'rsyslog.conf');
    writeFileSync(file, `${conf}\n`);
    execFileSync('rsyslogd', ['-N1', '-f', file], { stdio: 'pipe' });
    this.child = spawn('rsyslogd', ['-n', '-f', file, '-i', join(this.dir, 'rsyslogd.pid')], { stdio: 'ignore' });
    // ready when the port accepts connections
    const until = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const s = connect(this.port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
      if (ok) return;
      if (Date.now() > until) throw new Error('rsyslogd did not start listening');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill9(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }

  /** The messages rsyslog wrote so far (one RFC 5424 line each). */
  lines(): string[] {
    return existsSync(this.out) ? readFileSync(this.out, 'utf8').split('\n').filter((l) => l.length > 0) : [];
  }
}


/** Parses `<PRI>1 TS HOST APP PROCID MSGID [SD] MSG` into its parts. */
export function parse5424(line: string): { pri: number; version: number; time: string; host: string; app: string; procid: string; msgid: string; sd: Record<string, string>; msg: string } | undefined {
  const m = /^<(\d+)>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) (\[(?:[^\]\\]|\\.)*\]|-) ?([\s\S]*)$/.exec(line);
  if (m === null) return undefined;
  const sd: Record<string, string> = {};
  for (const p of m[8]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) sd[p[1]!] = p[2]!.replace(/\\(["\\\]])/g, '$1');
  return { pri: Number(m[1]), version: Number(m[2]), time: m[3]!, host: m[4]!, app: m[5]!, procid: m[6]!, msgid: m[7]!, sd, msg: m[9]! };
}
