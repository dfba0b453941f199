import { Server, ServerCredentials, credentials, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { ChainwatchError } from '../util/errors.js';
import { loadProto } from './agent-protocol.js';
import { ensureDir } from '../util/output-paths.js';

/**
 * The admin listener of chainwatch serve: a gRPC service on a unix socket
 * that only root can open (mode 0600 in a 0700 folder). Its credentials are
 * the filesystem's, separate from the agents' certificates, and agents
 * cannot reach it: the agent listener serves EventIngest and nothing else.
 */
const PROTO = 'chainwatch-admin.proto';

interface AdminClient extends Client {
  Status(req: object, cb: (e: ServiceError | null, r: { json: string }) => void): void;
  ReloadPolicy(req: object, cb: (e: ServiceError | null, r: ReloadReply) => void): void;
}
type AdminClientCtor = (new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => AdminClient) & { service: ServiceDefinition };

export interface ReloadReply {
  ok: boolean;
  /** The policy's SHA-256 before and after (empty: none). */
  old_sha256: string;
  new_sha256: string;
  error: string;
  /** The rules in force after the reload (or still in force when it was refused): `FILE SHA256` each. */
  rules: string[];
  rules_changed: boolean;
}

let admin: AdminClientCtor | undefined;

function adminService(): AdminClientCtor {
  admin ??= (loadProto(PROTO, { keepCase: true, defaults: true }) as unknown as { chainwatch: { admin: { v1: { Admin: AdminClientCtor } } } }).chainwatch.admin.v1.Admin;
  return admin;
}

export interface AdminHandlers {
  status: () => unknown;
  reload: () => ReloadReply;
}

export class AdminServer {
  private readonly server = new Server();

  constructor(
    private readonly socketPath: string,
    h: AdminHandlers,
  ) {
    this.server.addService(adminService().service, {
      Status: (_call: unknown, cb: (e: null, r: { json: string }) => void) => cb(null, { json: JSON.stringify(h.status()) }),
      ReloadPolicy: (_call: unknown, cb: (e: null, r: ReloadReply) => void) => cb(null, h.reload()),
    });
  }

  async listen(): Promise<void> {
    ensureDir(dirname(this.socketPath), 'the admin socket (--admin-socket)', 0o700);
    if (existsSync(this.socketPath)) rmSync(this.socketPath); // a socket left by a killed run
    await new Promise<void>((resolve, reject) =>
      this.server.bindAsync(`unix:${this.socketPath}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
    chmodSync(this.socketPath, 0o600);
  }

  close(): void {
    this.server.forceShutdown();
    rmSync(this.socketPath, { force: true });
  }
}

function client(socketPath: string): AdminClient {
  if (!existsSync(socketPath)) {
    throw new ChainwatchError('USAGE', `no admin socket at ${socketPath}`, { fix: 'is chainwatch serve running? give its --admin socket path' });
  }
  const Ctor = adminService();
  return new Ctor(`unix:${socketPath}`, credentials.createInsecure());
}

function call<T>(socketPath: string, f: (c: AdminClient, cb: (e: ServiceError | null, r: T) => void) => void): Promise<T> {
  const c = client(socketPath);
  return new Promise<T>((resolve, reject) =>
    f(c, (e, r) => {
      c.close();
      if (e) reject(new ChainwatchError('IO', `admin call failed: ${e.details || e.message}`, { where: socketPath, fix: 'is chainwatch serve running, and are you root?' }));
      else resolve(r);
    }),
  );
}

export const adminStatus = (socketPath: string): Promise<unknown> => call<{ json: string }>(socketPath, (c, cb) => c.Status({}, cb)).then((r) => JSON.parse(r.json) as unknown);
export const adminReload = (socketPath: string): Promise<ReloadReply> => call<ReloadReply>(socketPath, (c, cb) => c.ReloadPolicy({}, cb));
