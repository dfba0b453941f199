import type { Finding } from '../../schema/finding.js';
import { VERSION } from '../../util/version.js';
import { commandLine } from '../command-line.js';

/**
 * Findings in the shapes SIEMs read: OCSF 1.1 Detection Finding (class 2004),
 * CEF (ArcSight), ECS-shaped JSON (Elastic), or chainwatch's own JSON. Each
 * carries the delivery id, so a receiver can drop a resent copy.
 */
export type FormatName = 'ocsf' | 'cef' | 'ecs' | 'json';

const SEVERITY_ID: Record<Finding['severity'], number> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };
const CEF_SEVERITY: Record<Finding['severity'], number> = { info: 1, low: 3, medium: 5, high: 8, critical: 10 };

export interface Delivery {
  finding: Finding;
  /** Unique per report of a finding (id + report number): equal ids are the same message. */
  deliveryId: string;
}

type Proc = Pick<Finding['process'], 'pid' | 'comm' | 'exe' | 'args' | 'args_truncated'>;

/** The finding's process' parent, when the state knew it. */
const parentOf = (f: Finding): Proc | undefined => {
  const a = f.process.ancestors?.[0];
  return a?.pid === f.process.ppid ? a : undefined;
};

const ocsfProcess = (p: Proc): Record<string, unknown> => {
  const cmd = commandLine(p.args, p.args_truncated);
  return { pid: p.pid, name: p.comm, ...(cmd !== undefined && { cmd_line: cmd }), ...(p.exe !== undefined && { file: { path: p.exe, name: p.exe.split('/').pop() } }) };
};

export function ocsf(d: Delivery): Record<string, unknown> {
  const f = d.finding;
  const time = Date.parse(f.time);
  const evidences: Record<string, unknown>[] = [];
  const parent = parentOf(f);
  const proc = {
    ...ocsfProcess(f.process),
    parent_process: parent === undefined ? { pid: f.process.ppid } : ocsfProcess(parent),
    ...(f.process.ancestors !== undefined && { lineage: f.process.ancestors.map((a) => a.exe ?? a.comm) }),
  };
  evidences.push({
    process: proc,
    ...(f.source.path !== undefined && { file: { path: f.source.path, name: f.source.path.split('/').pop(), type_id: 1 } }),
    ...(f.sink.address !== undefined && { dst_endpoint: { ip: f.sink.address, port: f.sink.port } }),
  });
  for (const h of f.chain) evidences.push({ process: { pid: h.pid, name: h.comm }, data: { syscall: h.syscall, fd: h.fd, object: h.object, bytes: h.bytes, ts_ns: h.ts_ns } });
  return {
    activity_id: 1,
    activity_name: 'Create',
    category_uid: 2,
    category_name: 'Findings',
    class_uid: 2004,
    class_name: 'Detection Finding',
    type_uid: 200401,
    type_name: 'Detection Finding: Create',
    severity_id: SEVERITY_ID[f.severity],
    severity: f.severity[0]!.toUpperCase() + f.severity.slice(1),
    status_id: 1,
    status: 'New',
    time,
    message: f.summary,
    metadata: { version: '1.1.0', product: { name: 'chainwatch', vendor_name: 'chainwatch', version: VERSION }, uid: d.deliveryId, correlation_uid: f.id, ...(f.policy_hash !== null && { labels: [`policy_sha256:${f.policy_hash}`] }) },
    finding_info: {
      uid: f.id,
      title: f.rule,
      desc: f.summary,
      types: [f.category],
      created_time: time,
      analytic: { name: f.rule, type_id: 1, type: 'Rule', uid: f.rule },
      data_sources: ['chainwatch eBPF probes'],
    },
    device: { hostname: f.host, type_id: 0 },
    evidences,
    unmapped: { task: f.task, bytes_read: f.bytes_read, bytes_sent: f.bytes_sent, latency_ms: f.latency_ms, sends: f.sends, coverage: f.coverage, ...(f.action !== undefined && { action: f.action }), ...(f.policy !== undefined && { policy: f.policy }) },
  };
}

/** The OCSF Detection Finding fields that must be present (the class's required attributes, OCSF 1.1). */
export const OCSF_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'finding_info', 'metadata', 'severity_id', 'time', 'type_uid'] as const;

const cefHeader = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
const cefValue = (s: string): string => s.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r?\n/g, '\\n');

export function cef(d: Delivery): string {
  const f = d.finding;
  const ext: [string, string | number | undefined][] = [
    ['rt', Date.parse(f.time)],
    ['dvchost', f.host],
    ['externalId', d.deliveryId],
    ['cat', f.category],
    ['act', f.action ?? 'alert'],
    ['spid', f.process.pid],
    ['sproc', f.process.comm],
    ['fname', f.source.path],
    ['dst', f.sink.address],
    ['dpt', f.sink.port],
    ['in', f.bytes_read],
    ['out', f.bytes_sent],
    ['cnt', f.sends],
    ['cs1Label', 'task'],
    ['cs1', f.task],
    ['cs2Label', 'dataClass'],
    ['cs2', f.source.data_class],
    ['cs3Label', 'findingId'],
    ['cs3', f.id],
    ['cs4Label', 'policySha256'],
    ['cs4', f.policy_hash ?? undefined],
    ['cs5Label', 'commandLine'],
    ['cs5', commandLine(f.process.args, f.process.args_truncated)],
    ['cs6Label', 'parentCommandLine'],
    ['cs6', commandLine(parentOf(f)?.args, parentOf(f)?.args_truncated)],
    ['msg', f.summary],
  ];
  const given = (k: string): boolean => ext.some(([key, v]) => key === k && v !== undefined && v !== '');
  const extText = ext
    // a custom field's label only beside its value
    .filter(([k, v]) => v !== undefined && v !== '' && (!/^cs\dLabel$/.test(k) || given(k.slice(0, 3))))
    .map(([k, v]) => `${k}=${cefValue(String(v))}`)
    .join(' ');
  return `CEF:0|chainwatch|chainwatch|${cefHeader(VERSION)}|${cefHeader(f.rule)}|${cefHeader(f.summary)}|${CEF_SEVERITY[f.severity]}|${extText}`;
}

const ecsProcess = (p: Proc): Record<string, unknown> => {
  const cmd = commandLine(p.args, p.args_truncated);
  return {
    pid: p.pid,
    name: p.comm,
    ...(p.exe !== undefined && { executable: p.exe }),
    ...(p.args !== undefined && { args: p.args, args_count: p.args.length, command_line: cmd }),
  };
};

export function ecs(d: Delivery): Record<string, unknown> {
  const f = d.finding;
  return {
    '@timestamp': f.time,
    message: f.summary,
    event: { kind: 'alert', category: f.category === 'exfiltration' ? ['network', 'file'] : f.category === 'policy' ? ['process'] : ['intrusion_detection'], type: ['info'], severity: SEVERITY_ID[f.severity], id: d.deliveryId, action: f.action ?? 'alert', module: 'chainwatch', dataset: 'chainwatch.finding' },
    rule: { id: f.rule, name: f.rule, ruleset: f.category === 'policy' ? 'policy' : 'chains' },
    host: { name: f.host },
    process: { ...ecsProcess(f.process), parent: parentOf(f) === undefined ? { pid: f.process.ppid } : ecsProcess(parentOf(f)!) },
    ...(f.source.path !== undefined && { file: { path: f.source.path } }),
    ...(f.sink.address !== undefined && { destination: { ip: f.sink.address, port: f.sink.port } }),
    threat: { framework: 'chainwatch', indicator: { description: f.summary } },
    labels: { task: f.task, finding_id: f.id, ...(f.source.data_class !== undefined && { data_class: f.source.data_class }), ...(f.policy_hash !== null && { policy_sha256: f.policy_hash }) },
    chainwatch: { chain: f.chain, coverage: f.coverage, ...(f.process.ancestors !== undefined && { ancestors: f.process.ancestors }), bytes_read: f.bytes_read, bytes_sent: f.bytes_sent, latency_ms: f.latency_ms, sends: f.sends, ...(f.policy !== undefined && { policy: f.policy }) },
  };
}

/** The message body in the named format (JSON formats as one line). */
export function render(format: FormatName, d: Delivery): string {
  switch (format) {
    case 'ocsf':
      return JSON.stringify(ocsf(d));
    case 'cef':
      return cef(d);
    case 'ecs':
      return JSON.stringify(ecs(d));
    case 'json':
      return JSON.stringify({ delivery_id: d.deliveryId, ...d.finding });
  }
}
