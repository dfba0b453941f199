import { createHash } from 'node:crypto';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import type { Transmit } from './flow-tracker.js';

/**
 * Turns transmits into findings, one per chain (task, class, source, sink
 * channel): the first transmit emits the finding; later sends of the same
 * chain update its counters, and `flush()` re-emits the chains whose
 * counters changed, with the same id.
 *
 * The rule names and the staged window live here for now; they move to the
 * declarative rules in rules/ (issue 3, next step).
 */
export interface FindingContext {
  host: string;
  /** Wall-clock ns of the trace epoch. */
  wallEpochNs: bigint;
  policyHash: string | null;
  /** A file hop and a first-read-to-transmit gap longer than this is a staged breakout. */
  fastWindowNs: number;
}

interface OpenChain {
  finding: Finding;
  dirty: boolean;
}

export class FindingBuilder {
  private readonly chains = new Map<string, OpenChain>();
  /** Kernel loss reports seen: [ts, events]. */
  private readonly losses: [number, number][] = [];

  constructor(private readonly ctx: FindingContext) {}

  noteLoss(ev: Event): void {
    if (ev.kind === 'loss') {
      this.losses.push([ev.ts, ev.events]);
      if (this.losses.length > 10_000) this.losses.shift();
    }
  }

  /** Findings to emit now for these transmits (new chains only). */
  onTransmits(transmits: Transmit[]): Finding[] {
    const out: Finding[] = [];
    for (const t of transmits) {
      const open = this.chains.get(t.key);
      if (open !== undefined) {
        open.finding.bytes_sent += t.bytes;
        open.finding.sends++;
        open.finding.coverage.window_end_ns = t.ev.ts;
        open.finding.coverage.lost_events = this.lostBetween(open.finding.coverage.window_start_ns, t.ev.ts);
        open.dirty = true;
        continue;
      }
      const f = this.build(t);
      this.chains.set(t.key, { finding: f, dirty: false });
      out.push(f);
    }
    return out;
  }

  /** Chains whose counters changed since they were last emitted. */
  flush(): Finding[] {
    const out: Finding[] = [];
    for (const c of this.chains.values()) {
      if (!c.dirty) continue;
      c.dirty = false;
      out.push({ ...c.finding, chain: [...c.finding.chain] });
    }
    return out;
  }

  private lostBetween(from: number, to: number): number {
    let n = 0;
    for (const [ts, events] of this.losses) if (ts >= from && ts <= to) n += events;
    return n;
  }

  private build(t: Transmit): Finding {
    const ev = t.ev;
    const staged = t.taint.viaFile && ev.ts - t.taint.firstReadTs > this.ctx.fastWindowNs;
    const rule = staged ? 'exfil.staged' : 'exfil.read-then-transmit';
    const task = ev.proc?.task ?? '';
    const sink = t.sink;
    const sinkText = sink.peer?.addr !== undefined ? `${sink.peer.addr}:${sink.peer.port ?? 0}` : (sink.peer?.path ?? sink.id);
    const latencyMs = (ev.ts - t.taint.firstReadTs) / 1e6;
    const processes = new Set(t.taint.hops.map((h) => h.pid)).size;
    const wall = this.ctx.wallEpochNs + BigInt(ev.ts);
    return {
      id: createHash('sha256').update(`${rule}\n${t.key}`).digest('hex').slice(0, 24),
      time: new Date(Number(wall / 1_000_000n)).toISOString(),
      ts_ns: ev.ts,
      rule,
      category: 'exfiltration',
      severity: 'high',
      task,
      host: this.ctx.host,
      process: { pid: ev.pid, ppid: ev.proc?.ppid ?? -1, comm: ev.proc?.comm ?? '?', ...(ev.proc?.exe !== undefined && { exe: ev.proc.exe }) },
      source: { path: t.taint.sourcePath, data_class: t.taint.cls, object: t.taint.sourceObj },
      sink: {
        ...(sink.family !== undefined && { family: sink.family }),
        ...(sink.peer?.addr !== undefined && { address: sink.peer.addr, port: sink.peer.port ?? 0 }),
        ...(sink.peer?.path !== undefined && { path: sink.peer.path }),
      },
      bytes_read: t.taint.bytesRead,
      bytes_sent: t.bytes,
      latency_ms: Math.round(latencyMs * 1000) / 1000,
      sends: 1,
      chain: t.taint.hops,
      coverage: { lost_events: this.lostBetween(t.taint.firstReadTs, ev.ts), window_start_ns: t.taint.firstReadTs, window_end_ns: ev.ts },
      policy_hash: this.ctx.policyHash,
      summary:
        `${ev.proc?.comm ?? '?'} (pid ${ev.pid}, task ${task}) sent ${t.taint.cls} data from ${t.taint.sourcePath} to ${sinkText} ` +
        `${latencyMs < 1000 ? `${latencyMs.toFixed(1)} ms` : `${(latencyMs / 1000).toFixed(1)} s`} after reading it` +
        (processes > 1 ? `, through ${processes} processes` : '') +
        (t.taint.viaFile ? ', staged in a file' : '') +
        '.',
    };
  }
}
