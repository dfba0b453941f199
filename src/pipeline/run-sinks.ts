import type { EffectivePolicy } from '../schema/policy.js';
import type { OutputsFile } from '../schema/outputs.js';
import type { TraceHeader } from '../schema/trace-header.js';
import { SiemRouter } from '../sinks/siem/router.js';
import { moduleLog } from '../util/log.js';
import { AuditTrail, type AuditSettings } from './audit-trail.js';

const log = moduleLog('pipeline/run-sinks');

/**
 * The sinks of one run: the audit trail and the SIEM router, wired to each
 * other (checkpoints go out through the SIEM outputs; an output that has to
 * refuse a message leaves a record in the audit log; heartbeats carry the
 * delivery counters). `close` writes the shutdown record and the final
 * checkpoint, then waits (up to 5 s) for the outputs to deliver.
 */
export interface RunSinks {
  audit: AuditTrail | undefined;
  siem: SiemRouter | undefined;
  close: (reason: string, extra?: Record<string, unknown>) => Promise<void>;
}

export function openSinks(
  o: { audit?: AuditSettings | undefined; outputs?: OutputsFile | undefined; queueDir?: string | undefined; policy?: { effective: EffectivePolicy } | undefined },
  header: TraceHeader,
  startExtra?: Record<string, unknown>,
): RunSinks {
  let audit: AuditTrail | undefined;
  const siem = o.outputs
    ? new SiemRouter(o.outputs, o.queueDir ?? './var/queue', (output, what) => {
        log.error({ output, dropped: what }, 'SIEM output refused a message (its queue full, or its file unwritable): recorded in the audit log');
        audit?.sinkDrop(output, what);
      })
    : undefined;
  audit = o.audit ? new AuditTrail({ ...o.audit, ...(siem && { onCheckpoint: (n: string) => siem.checkpoint(n) }) }, header, o.policy?.effective, startExtra) : undefined;
  if (audit && siem) audit.outputStats = () => siem.stats();
  let closed = false;
  return {
    audit,
    siem,
    close: async (reason, extra = {}) => {
      if (closed) return;
      closed = true;
      audit?.close({ reason, ...extra });
      if (siem) {
        await siem.close(5000);
        log.info({ outputs: siem.stats() }, 'SIEM delivery');
      }
    },
  };
}
