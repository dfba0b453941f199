import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { packageDir } from '../util/package-dir.js';

/**
 * The agent link's wire types (src/remote/chainwatch-agent.proto), loaded at
 * run time with proto-loader. 64-bit fields travel as decimal strings (ns
 * clocks exceed 2^53).
 */
export const PROTO_FILE = 'chainwatch-agent.proto';
export const SERVICE_PATH = '/chainwatch.agent.v1.EventIngest/StreamEvents';

/** A .proto of src/remote/, parsed (found from this module whether it runs from src/ or dist/src/). */
export function loadProto(file: string, o: Parameters<typeof loadSync>[1]): ReturnType<typeof loadPackageDefinition> {
  const dir = packageDir(join('src', 'remote'), file);
  if (dir === undefined) throw new Error(`${file} not found next to the installed package`);
  return loadPackageDefinition(loadSync(join(dir, file), o));
}

interface Loaded {
  service: ServiceDefinition;
  Client: new (address: string, credentials: import('@grpc/grpc-js').ChannelCredentials, options?: object) => import('@grpc/grpc-js').Client & {
    StreamEvents: () => import('@grpc/grpc-js').ClientDuplexStream<AgentMessage, HostMessage>;
  };
}

let loaded: Loaded | undefined;

export function agentProtocol(): Loaded {
  if (loaded) return loaded;
  const pkg = loadProto(PROTO_FILE, { longs: String, enums: String, defaults: true, oneofs: true, keepCase: true }) as unknown as { chainwatch: { agent: { v1: { EventIngest: Loaded['Client'] & { service: ServiceDefinition } } } } };
  const svc = pkg.chainwatch.agent.v1.EventIngest;
  loaded = { service: svc.service, Client: svc };
  return loaded;
}

/** Decimal strings on the wire (proto-loader longs: String); numbers are accepted when sending. */
type U64 = string | number;

export interface Hello {
  sandbox: string;
  run: string;
  first_unacked: U64;
  header_json: string;
  agent_version: string;
}
export interface EventBatch {
  first_seq: U64;
  events: string[];
  delivered_up_to: U64;
  dropped: U64;
}
export interface ClockReply {
  host_mono_ns: U64;
  agent_mono_ns: U64;
  agent_wall_ns: U64;
}
export interface AgentMessage {
  hello?: Hello | null;
  batch?: EventBatch | null;
  clock?: ClockReply | null;
  body?: 'hello' | 'batch' | 'clock';
}
export interface HostMessage {
  welcome?: { sandbox: string; resume_from: U64 } | null;
  ack?: { up_to: U64 } | null;
  clock?: { host_mono_ns: U64 } | null;
  body?: 'welcome' | 'ack' | 'clock';
}

/** A wire u64 as a safe integer, or undefined. */
export function u64(v: U64 | undefined | null): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function u64Big(v: U64 | undefined | null): bigint | undefined {
  if (v === undefined || v === null) return undefined;
  try {
    const b = BigInt(v);
    return b >= 0n ? b : undefined;
  } catch {
    return undefined;
  }
}
