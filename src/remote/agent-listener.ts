import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../util/log.js';
import { agentCertProblem, sandboxOfAltNames, type TlsMaterial } from './tls-files.js';

/**
 * The agent-facing TCP listener: mutual TLS terminated here (not inside
 * grpc-js) so that every refused connection leaves a log line saying who
 * and why: plain TCP, no client certificate, a certificate from another CA,
 * an expired one, one that names no sandbox. Only verified agent
 * connections reach gRPC, tagged with the sandbox their certificate names.
 */
export interface RefusedConnection {
  remote: string;
  reason: string;
  /** OpenSSL's or Node's code (CERT_HAS_EXPIRED, ERR_SSL_WRONG_VERSION_NUMBER, ...). */
  code: string | undefined;
}

export interface AgentListenerOptions {
  tls: TlsMaterial;
  log: Logger;
  onAgent: (socket: TLSSocket, sandbox: string) => void;
  onRefused?: (r: RefusedConnection) => void;
}

const REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'its client certificate has expired',
  CERT_NOT_YET_VALID: 'its client certificate is not valid yet',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its client certificate was not issued by the chainwatch CA',
  UNABLE_TO_GET_ISSUER_CERT: 'its client certificate was not issued by the chainwatch CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its client certificate was not issued by the chainwatch CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'its client certificate chains to another CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its client certificate is self-signed',
  CERT_SIGNATURE_FAILURE: 'its client certificate has a bad signature',
  CERT_REVOKED: 'its client certificate is revoked',
  INVALID_PURPOSE: 'its certificate is not for client authentication (a host certificate?)',
};

export class AgentListener {
  readonly server: Server;
  refused = 0;
  private readonly sockets = new Set<TLSSocket>();

  constructor(private readonly o: AgentListenerOptions) {
    this.server = createServer({
      cert: o.tls.cert,
      key: o.tls.key,
      ca: o.tls.ca,
      requestCert: true,
      // verified below, so a refusal can say why (rejecting in the handshake only says "handshake failed")
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
    });
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const code = err.code;
      const plain = code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_UNKNOWN_PROTOCOL' || /wrong version number|http request|unknown protocol/i.test(err.message);
      this.refuse(socket, plain ? 'it did not speak TLS (plain TCP or h2c)' : `the TLS handshake failed: ${err.message.split('\n')[0]}`, code);
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const cert = socket.getPeerCertificate();
      if (cert === null || Object.keys(cert).length === 0) return this.refuse(socket, 'it presented no client certificate', 'NO_CLIENT_CERT');
      if (!socket.authorized) {
        const code = String(socket.authorizationError ?? 'UNAUTHORIZED');
        return this.refuse(socket, `${REASONS[code] ?? `its client certificate failed verification (${code})`} (subject ${cert.subject?.CN ?? '?'}, valid ${cert.valid_from} to ${cert.valid_to})`, code);
      }
      const problem = agentCertProblem(cert);
      if (problem !== undefined) return this.refuse(socket, `its certificate ${problem} (subject ${cert.subject?.CN ?? '?'})`, 'NOT_AN_AGENT_CERT');
      if (socket.alpnProtocol !== 'h2') return this.refuse(socket, 'it did not negotiate HTTP/2 (ALPN h2)', 'NO_ALPN_H2');
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      o.onAgent(socket, sandboxOfAltNames(cert.subjectaltname)!);
    });
    // a socket-level error before or after the handshake must not take the host down
    this.server.on('error', (e) => o.log.error({ err: e.message }, 'agent listener error'));
  }

  private refuse(socket: TLSSocket, reason: string, code: string | undefined): void {
    this.refused++;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.o.log.warn({ remote, code, reason }, `refused an agent connection from ${remote}: ${reason}`);
    this.o.onRefused?.({ remote, reason, code });
    socket.destroy();
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  /** Stops listening and drops every agent connection. */
  close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    return closed;
  }
}
