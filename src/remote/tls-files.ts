import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { ChainwatchError } from '../util/errors.js';

/**
 * Certificates of the agent link. Every agent certificate names its sandbox
 * in a URI subject alternative name `urn:chainwatch:sandbox:NAME`; the host
 * attributes a stream to that name and to nothing the agent says. Host
 * certificates carry no such name, so one cannot pose as an agent.
 */
export const SANDBOX_URI_PREFIX = 'urn:chainwatch:sandbox:';
export const SANDBOX_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** The sandbox our own certificate names (agents), if any. */
  sandbox: string | undefined;
  notAfter: Date;
}

/** Reads and checks a certificate, its key and the CA: each problem named with the file and the fix. */
export function loadTlsFiles(f: TlsFiles, role: 'agent' | 'host'): TlsMaterial {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ChainwatchError('TLS_INVALID', `cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        where: file,
        fix: 'give the PEM files chainwatch certs made (--cert, --key, --ca)',
      });
    }
  };
  const cert = read(f.cert, 'certificate');
  const key = read(f.key, 'private key');
  const ca = read(f.ca, 'CA certificate');
  const parse = (pem: Buffer, file: string, what: string): X509Certificate => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new ChainwatchError('TLS_INVALID', `not a PEM ${what}: ${(e as Error).message}`, { where: file, fix: 'chainwatch certs makes a CA and certificates' });
    }
  };
  const x = parse(cert, f.cert, 'certificate');
  const caX = parse(ca, f.ca, 'CA certificate');
  let k;
  try {
    k = createPrivateKey(key);
  } catch (e) {
    throw new ChainwatchError('TLS_INVALID', `not a PEM private key: ${(e as Error).message}`, { where: f.key, fix: 'give the .key file made with the certificate' });
  }
  if (!x.checkPrivateKey(k)) {
    throw new ChainwatchError('TLS_INVALID', `the private key does not belong to the certificate ${f.cert}`, { where: f.key, fix: 'give the key made together with this certificate' });
  }
  if (!x.verify(caX.publicKey)) {
    throw new ChainwatchError('TLS_INVALID', `the certificate was not issued by the CA in ${f.ca}`, { where: f.cert, fix: 'use certificates from the same chainwatch certs run as the CA' });
  }
  const notAfter = new Date(x.validTo);
  if (notAfter.getTime() < Date.now()) {
    throw new ChainwatchError('TLS_INVALID', `the certificate expired on ${notAfter.toISOString()}`, { where: f.cert, fix: 'issue a new one (chainwatch certs)' });
  }
  const sandbox = sandboxOfAltNames(x.subjectAltName);
  if (role === 'agent' && sandbox === undefined) {
    throw new ChainwatchError('TLS_INVALID', `the certificate names no sandbox (no ${SANDBOX_URI_PREFIX}NAME subject alternative name)`, {
      where: f.cert,
      fix: 'issue agent certificates with chainwatch certs --sandbox NAME',
    });
  }
  return { cert, key, ca, sandbox, notAfter };
}

export function sandboxOfAltNames(altNames: string | undefined): string | undefined {
  if (altNames === undefined) return undefined;
  const names = altNames
    .split(/,\s*/)
    .filter((n) => n.startsWith(`URI:${SANDBOX_URI_PREFIX}`))
    .map((n) => n.slice(4 + SANDBOX_URI_PREFIX.length));
  // exactly one, well formed: a certificate naming two sandboxes names none
  return names.length === 1 && SANDBOX_NAME.test(names[0]!) ? names[0] : undefined;
}

/** Why a verified peer certificate still cannot be an agent's, or undefined when it can. */
export function agentCertProblem(c: PeerCertificate): string | undefined {
  if (sandboxOfAltNames(c.subjectaltname) === undefined) return `it names no sandbox (exactly one ${SANDBOX_URI_PREFIX}NAME alternative name expected; a host certificate?)`;
  const eku = (c as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage;
  if (eku !== undefined && !eku.includes(CLIENT_AUTH)) return 'its extended key usage does not allow client authentication';
  return undefined;
}
