import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import picomatch from 'picomatch';
import type { Finding } from '../../schema/finding.js';
import type { OutputsFile } from '../../schema/outputs.js';
import { canonicalJson } from '../../util/canonical-json.js';
import { DurableQueue } from '../../util/durable-queue.js';
import { render } from './formats.js';
import { HttpOutput } from './http-output.js';
import { format5424 } from './syslog-5424.js';
import type { OutputStats } from './queued-output.js';
import { SyslogOutput } from './syslog-output.js';

const RANK: Record<Finding['severity'], number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

interface Route {
  min?: number;
  categories?: Set<string>;
  rule?: (r: string) => boolean;
}

/**
 * Findings to every output whose route takes them, each through its own
 * durable queue; audit checkpoints to every syslog output. Counts per
 * output: sent, queued, retried, dropped (a full queue refuses and counts:
 * `onDrop` records it in the audit log).
 */
export class SiemRouter {
  private readonly outputs: { name: string; route: Route; deliver: (f: Finding, id: string) => void; checkpoint?: (note: string) => void; syslog?: SyslogOutput | HttpOutput; fileStats?: OutputStats }[] = [];

  constructor(cfg: OutputsFile, queueRoot: string, onDrop: (output: string, what: string) => void) {
    /** Queues a message on a queued output and wakes it; a full queue refuses, counted and reported. */
    const enqueue = (name: string, queue: DurableQueue, out: SyslogOutput | HttpOutput, id: string, body: string, what: string): void => {
      if (!queue.push({ id, body })) {
        out.stats.dropped++;
        onDrop(name, what);
      }
      out.kick();
    };
    const queueOf = (o: { name: string; queue?: { dir?: string | undefined; max?: number | undefined } | undefined }): DurableQueue =>
      new DurableQueue(o.queue?.dir ?? join(queueRoot, o.name), o.queue?.max ?? 100_000);
    for (const o of cfg.outputs) {
      const route: Route = {
        ...(o.route?.min_severity !== undefined && { min: RANK[o.route.min_severity] }),
        ...(o.route?.categories && { categories: new Set(o.route.categories) }),
        ...(o.route?.rules && { rule: picomatch(o.route.rules) }),
      };
      if (o.type === 'jsonl') {
        const stats: OutputStats = { sent: 0, queued: 0, retried: 0, dropped: 0, connected: true };
        this.outputs.push({
          name: o.name,
          route,
          fileStats: stats,
          deliver: (f, id) => {
            const line = `${render(o.format, { finding: f, deliveryId: id })}\n`;
            if (o.path === '-') process.stdout.write(line);
            else {
              try {
                appendFileSync(o.path, line);
              } catch (e) {
                // a full disk: refused, counted and recorded in the audit log, like a full queue
                stats.dropped++;
                onDrop(o.name, `finding ${f.id} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
                return;
              }
            }
            stats.sent++;
          },
        });
        continue;
      }
      if (o.type === 'http') {
        const queue = queueOf(o);
        const token = o.token ?? (o.token_file !== undefined ? readFileSync(o.token_file, 'utf8').trim() : undefined);
        const out = new HttpOutput({ name: o.name, url: o.url, batch: o.batch, ...(token !== undefined && { token }), ...(o.ca !== undefined && { ca: o.ca }) }, queue);
        const push = (id: string, event: unknown, sourcetype: string, what: string): void =>
          enqueue(o.name, queue, out, id, JSON.stringify({ time: Date.now() / 1000, host: hostname(), source: 'chainwatch', sourcetype, event }), what);
        this.outputs.push({
          name: o.name,
          route,
          syslog: out,
          deliver: (f, id) => push(id, JSON.parse(render(o.format, { finding: f, deliveryId: id })) as unknown, `chainwatch:${o.format}`, `finding ${f.id}`),
          ...(o.checkpoints && { checkpoint: (note: string) => push(`checkpoint-${note.split('\n')[1] ?? '?'}`, { type: 'audit-checkpoint', note }, 'chainwatch:checkpoint', 'checkpoint') }),
        });
        continue;
      }
      const [host, port] = splitHostPort(o.address);
      const queue = queueOf(o);
      const out = new SyslogOutput({ name: o.name, transport: o.transport, host, port, ...(o.tls && { tls: o.tls }) }, queue);
      const push = (id: string, body: string, what: string): void => enqueue(o.name, queue, out, id, body, what);
      this.outputs.push({
        name: o.name,
        route,
        syslog: out,
        deliver: (f, id) =>
          push(
            id,
            format5424({
              severity: f.severity,
              time: new Date().toISOString(),
              hostname: f.host || hostname(),
              msgid: f.category,
              sd: { id: f.id, delivery: id, rule: f.rule, severity: f.severity, category: f.category, task: f.task, pid: f.process.pid, action: f.action, policy_sha256: f.policy_hash ?? undefined },
              msg: render(o.format, { finding: f, deliveryId: id }),
            }),
            `finding ${f.id}`,
          ),
        ...(o.checkpoints && {
          checkpoint: (note: string) => {
            const id = `checkpoint-${note.split('\n')[1] ?? '?'}`;
            push(id, format5424({ severity: 'info', time: new Date().toISOString(), hostname: hostname(), msgid: 'checkpoint', sd: { delivery: id, type: 'audit-checkpoint' }, msg: note.replace(/\n/g, '\\n') }), `checkpoint ${id}`);
          },
        }),
      });
    }
  }

  finding(f: Finding): void {
    // the delivery id is the report's content hash: a resend (or the same report after a restart) has the same id, a re-report with more sends a new one
    const id = createHash('sha256').update(canonicalJson(f)).digest('hex').slice(0, 24);
    for (const o of this.outputs) {
      const r = o.route;
      if (r.min !== undefined && RANK[f.severity] < r.min) continue;
      if (r.categories && !r.categories.has(f.category)) continue;
      if (r.rule && !r.rule(f.rule)) continue;
      o.deliver(f, id);
    }
  }

  checkpoint(note: string): void {
    for (const o of this.outputs) o.checkpoint?.(note);
  }

  stats(): Record<string, OutputStats> {
    return Object.fromEntries(this.outputs.map((o) => [o.name, o.syslog ? { ...o.syslog.stats } : { ...o.fileStats! }]));
  }

  async close(ms?: number): Promise<void> {
    await Promise.all(this.outputs.map((o) => o.syslog?.close(ms)));
  }
}

function splitHostPort(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), Number(a.slice(i + 1))];
}
