import type { Finding } from '../../schema/finding.js';

/**
 * RFC 5424 syslog messages and RFC 6587 octet-counting framing. Structured
 * data (`chainwatch@32473`) carries the finding's key fields; MSG carries
 * the formatted finding.
 */
const SEVERITY: Record<Finding['severity'], number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** Facility 13: log audit. */
export const FACILITY_LOG_AUDIT = 13;
export const SD_ID = 'chainwatch@32473';

const sdParam = (v: string): string => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
const token = (v: string, max: number): string => (v.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-');

export interface SyslogMessage {
  severity: Finding['severity'];
  time: string;
  hostname: string;
  msgid: string;
  sd: Record<string, string | number | undefined>;
  msg: string;
}

export function format5424(m: SyslogMessage, facility = FACILITY_LOG_AUDIT, procid = String(process.pid)): string {
  const pri = facility * 8 + SEVERITY[m.severity];
  const params = Object.entries(m.sd)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}="${sdParam(String(v))}"`)
    .join(' ');
  return `<${pri}>1 ${m.time} ${token(m.hostname, 255)} chainwatch ${token(procid, 128)} ${token(m.msgid, 32)} [${SD_ID} ${params}] ${m.msg}`;
}

/** RFC 6587 octet counting: `LENGTH SP MESSAGE`, LENGTH in bytes. */
export function octetFrame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
