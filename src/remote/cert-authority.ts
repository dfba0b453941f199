import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ChainwatchError } from '../util/errors.js';
import { SANDBOX_NAME, SANDBOX_URI_PREFIX } from './tls-files.js';
import { ensureDir } from '../util/output-paths.js';

/**
 * `chainwatch certs`: a CA, a host certificate and one client certificate per
 * sandbox, for tests and small deployments, made with openssl (ECDSA P-256).
 * Larger deployments issue the same shapes from their own PKI: the host
 * certificate has serverAuth and the names agents connect to; an agent
 * certificate has clientAuth and exactly one URI SAN urn:chainwatch:sandbox:NAME.
 */
export interface CertsRequest {
  dir: string;
  /** Names and addresses agents use to reach the host (DNS names and IPs). */
  hostNames: string[];
  sandboxes: string[];
  days: number;
  /** Backdate the validity (tests of expired certificates): start and end as openssl ca dates YYYYMMDDHHMMSSZ. */
  window?: { start: string; end: string };
}

export interface IssuedFiles {
  ca: string;
  caKey: string;
  host?: { cert: string; key: string };
  agents: Record<string, { cert: string; key: string }>;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; code?: string };
    if (err.code === 'ENOENT') throw new ChainwatchError('IO', 'openssl is not installed', { fix: 'apt-get install -y openssl' });
    throw new ChainwatchError('IO', `openssl ${args[0]} failed: ${err.stderr?.toString().trim().split('\n')[0] ?? 'unknown error'}`, { where: dir });
  }
}

function sanOf(names: string[]): string {
  return names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

/** Makes the CA in `dir` unless there is one, then the host and agent certificates asked for. */
export function issueCerts(r: CertsRequest): IssuedFiles {
  ensureDir(r.dir, 'the certificates', 0o700);
  for (const s of r.sandboxes) {
    if (!SANDBOX_NAME.test(s)) throw new ChainwatchError('USAGE', `bad sandbox name ${JSON.stringify(s)}`, { fix: 'letters, digits, . _ : - (at most 128, starting with a letter or digit)' });
  }
  const ca = join(r.dir, 'ca.pem');
  const caKey = join(r.dir, 'ca.key');
  if (!existsSync(ca)) {
    openssl(r.dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', String(Math.max(r.days, 1)), '-subj', '/CN=chainwatch agent CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }
  const issue = (name: string, subject: string, ext: string): { cert: string; key: string } => {
    const key = `${name}.key`;
    const csr = `${name}.csr`;
    const extFile = `${name}.ext`;
    openssl(r.dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
    writeFileSync(join(r.dir, extFile), `${ext}\n`);
    if (r.window === undefined) {
      openssl(r.dir, ['x509', '-req', '-in', csr, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', String(r.days), '-extfile', extFile]);
    } else {
      // openssl ca is the one that takes explicit dates
      const db = join(r.dir, 'ca-db');
      mkdirSync(db, { recursive: true });
      writeFileSync(join(db, 'index.txt'), '');
      writeFileSync(join(db, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
      writeFileSync(join(db, 'ca.cnf'), ['[ca]', 'default_ca=cw', '[cw]', `dir=${db}`, 'database=$dir/index.txt', 'serial=$dir/serial', `new_certs_dir=${db}`, 'default_md=sha256', 'policy=any', 'copy_extensions=none', 'unique_subject=no', '[any]', 'commonName=supplied'].join('\n'));
      openssl(r.dir, ['ca', '-batch', '-config', join(db, 'ca.cnf'), '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', csr, '-out', `${name}.pem`, '-startdate', r.window.start, '-enddate', r.window.end, '-extfile', extFile, '-notext']);
      rmSync(db, { recursive: true, force: true });
    }
    rmSync(join(r.dir, csr), { force: true });
    rmSync(join(r.dir, extFile), { force: true });
    return { cert: join(r.dir, `${name}.pem`), key: join(r.dir, key) };
  };
  const out: IssuedFiles = { ca, caKey, agents: {} };
  if (r.hostNames.length > 0) {
    out.host = issue('host', `/CN=${r.hostNames[0]}`, `subjectAltName=${sanOf(r.hostNames)}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature`);
  }
  for (const s of r.sandboxes) {
    out.agents[s] = issue(`agent-${s}`, `/CN=${s}`, `subjectAltName=URI:${SANDBOX_URI_PREFIX}${s}\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature`);
  }
  return out;
}
