import { z } from 'zod';
import { Category, Severity } from './finding.js';

/** SIEM outputs (docs/siem.md): where findings (and audit checkpoints) go, in which format, routed by severity, category and rule. */
const Route = z.strictObject({
  min_severity: Severity.optional(),
  categories: z.array(Category).min(1).optional(),
  /** Rule ids or globs (exfil.*, policy.*). */
  rules: z.array(z.string().min(1)).min(1).optional(),
});
const Queue = z.strictObject({ dir: z.string().min(1).optional(), max: z.number().int().positive().optional() });
const HostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:6514');

export const SyslogOutputConfig = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a name like soc-tls'),
  type: z.literal('syslog'),
  transport: z.enum(['tls', 'tcp', 'udp']).default('tls'),
  address: HostPort,
  format: z.enum(['ocsf', 'cef', 'ecs', 'json']).default('ocsf'),
  tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1).optional(), key: z.string().min(1).optional(), servername: z.string().optional() }).optional(),
  route: Route.optional(),
  queue: Queue.optional(),
  /** Also send each audit checkpoint (default true): a copy of the log's head off the host. */
  checkpoints: z.boolean().default(true),
});
export const FileOutputConfig = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a name like findings-file'),
  type: z.literal('jsonl'),
  /** A file, or - for stdout. */
  path: z.string().min(1),
  format: z.enum(['ocsf', 'ecs', 'json']).default('json'),
  route: Route.optional(),
});
export const HttpOutputConfig = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a name like splunk-hec'),
  type: z.literal('http'),
  url: z.string().url('expected a URL like https://splunk.example:8088/services/collector/event'),
  /** Splunk HEC token, or a file holding it. */
  token: z.string().min(1).optional(),
  token_file: z.string().min(1).optional(),
  ca: z.string().min(1).optional(),
  format: z.enum(['ocsf', 'ecs', 'json']).default('json'),
  batch: z.number().int().positive().max(10_000).default(100),
  route: Route.optional(),
  queue: Queue.optional(),
  checkpoints: z.boolean().default(true),
});
export const OutputsFile = z.strictObject({
  version: z.literal(1),
  outputs: z.array(z.discriminatedUnion('type', [SyslogOutputConfig, FileOutputConfig, HttpOutputConfig])).min(1),
});
export type OutputsFile = z.infer<typeof OutputsFile>;
export type SyslogOutputConfig = z.infer<typeof SyslogOutputConfig>;
