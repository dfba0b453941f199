import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event } from '../src/schema/event.js';
import { JsonlWriter } from '../src/sinks/jsonl-writer.js';
import { RunMetrics } from '../src/sinks/metrics.js';

/**
 * What the per-event sinks cost: `--events FILE` (JsonlWriter, streamed) and
 * the Prometheus counters (RunMetrics.event), each on N events, and a
 * scrape of a run with many rules, outputs and sources.
 */
export interface OutputsBenchResult {
  events: number;
  jsonlEventsPerSecond: number;
  jsonlMiBPerSecond: number;
  metricsNsPerEvent: number;
  scrapeMs: number;
}

function sampleEvents(n: number): Event[] {
  const out: Event[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      i % 1000 === 999
        ? { ts: i, cgroup: 0, pid: 0, tid: 0, kind: 'loss', events: 3, source: 'kernel' }
        : { ts: i, cgroup: 7, pid: 1000 + (i % 50), tid: 1000 + (i % 50), kind: 'io', dir: i % 2 ? 'in' : 'out', syscall: 'read', fd: 3 + (i % 20), bytes: 4096, calls: 1, ts_first: i, obj: `i:8:${i % 300}` },
    );
  }
  return out;
}

export async function benchOutputs(n: number): Promise<OutputsBenchResult> {
  const evs = sampleEvents(10_000);
  const dir = mkdtempSync(join(tmpdir(), 'cw-bench-out-'));
  const file = join(dir, 'events.jsonl');
  const w = new JsonlWriter(file);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    w.write(evs[i % evs.length]);
    // let the chunks go out as a pipeline would between reads
    if (i % 10_000 === 9_999) await new Promise((r) => setImmediate(r));
  }
  await w.close();
  const jsonlS = (performance.now() - t0) / 1000;
  const bytes = statSync(file).size;
  rmSync(dir, { recursive: true, force: true });

  const m = new RunMetrics('bench', () => ({
    outputs: Array.from({ length: 4 }, (_, k) => ({ file: `/var/out${k}.jsonl`, unwritten: 0, failing: false })),
    siem: Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`out${k}`, { sent: k, queued: k, retried: 0, dropped: 0, connected: true }])),
  }));
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) m.event(evs[i % evs.length]!);
  const metricsNs = Number(process.hrtime.bigint() - t1) / n;
  const base = { id: '0'.repeat(24), time: '', ts_ns: 0, task: 't', host: 'h', process: { pid: 1, ppid: 0, comm: 'c' }, source: {}, sink: {}, bytes_read: 0, bytes_sent: 0, latency_ms: 0, sends: 1, chain: [], coverage: { lost_events: 0, window_start_ns: 0, window_end_ns: 0 }, policy_hash: null, summary: '' };
  for (let r = 0; r < 200; r++) m.finding({ ...base, rule: `rule.${r}`, severity: 'high', category: 'policy' } as never);
  await m.text();
  const t2 = performance.now();
  for (let i = 0; i < 20; i++) await m.text();
  const scrapeMs = (performance.now() - t2) / 20;
  return { events: n, jsonlEventsPerSecond: n / jsonlS, jsonlMiBPerSecond: bytes / 2 ** 20 / jsonlS, metricsNsPerEvent: metricsNs, scrapeMs };
}
