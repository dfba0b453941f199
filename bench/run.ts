import { benchDecodeState, benchMemoryPerFd, type DecodeStateResult } from './decode-state.js';
import { benchAudit } from './audit.js';
import { benchReplay } from './replay.js';
import { benchSiem } from './siem.js';
import { benchAgentLink } from './agent-link.js';
import { benchBaselineCost } from './baseline-cost.js';
import { benchChurn } from './churn.js';
import { benchOutputs } from './outputs.js';

/**
 * `npm run bench`: CPU and memory figures that need no kernel.
 * `npm run bench:live`: figures against the real kernel (bench/live.ts).
 */
const lines = Number(process.env.BENCH_LINES ?? 5_000_000);
// this VM's speed drifts by a third within an hour: several runs, alternated, and their median
const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
type Shape = 'scheduled' | 'uniform';
const shapes: Shape[] = process.env.BENCH_INTERLEAVE === 'scheduled' ? ['scheduled'] : process.env.BENCH_INTERLEAVE === 'uniform' ? ['uniform'] : ['scheduled', 'uniform'];
const shapeName: Record<Shape, string> = {
  scheduled: 'processes interleaved as a scheduler runs them (MEASURED_INTERLEAVE)',
  uniform: 'every event from any of 2,000 processes (worst case for memory caches)',
};
const runs = new Map<string, DecodeStateResult[]>();
const keep = (key: string, r: DecodeStateResult): void => void runs.set(key, [...(runs.get(key) ?? []), r]);
const where = (r: DecodeStateResult): string =>
  `stream: ${r.locality.meanRun.toFixed(1)} events per run of one process, ${r.locality.distinctPer1000.median} processes per 1,000 events (max ${r.locality.distinctPer1000.max})`;
// BENCH_LINES=0: the other sections alone
for (let i = 1; i <= (lines > 0 ? repeat : 0); i++) {
  for (const shape of shapes) {
    const interleave = shape === 'uniform' ? 'uniform' : undefined;
    console.log(`decode + state, ${lines.toLocaleString()} probe lines (one core), ${shapeName[shape]}, run ${i} of ${repeat}…`);
    const r = benchDecodeState(lines, false, { interleave });
    keep(`decode + state, ${shape}`, r);
    console.log(
      `  ${r.events.toLocaleString()} events in ${r.seconds.toFixed(2)} s = ${Math.round(r.eventsPerSecond).toLocaleString()} events/s; ` +
        `peak RSS ${r.peakRssMiB.toFixed(0)} MiB; tracked fds at end ${r.trackedFds.toLocaleString()}; ${where(r)}`,
    );
    console.log(`full pipeline (decode, state, flow, chain rules), ${lines.toLocaleString()} probe lines (one core), ${shapeName[shape]}, run ${i} of ${repeat}…`);
    const f = benchDecodeState(lines, true, { interleave });
    keep(`full pipeline, ${shape}`, f);
    console.log(
      `  ${f.events.toLocaleString()} events in ${f.seconds.toFixed(2)} s = ${Math.round(f.eventsPerSecond).toLocaleString()} events/s; ` +
        `peak RSS ${f.peakRssMiB.toFixed(0)} MiB; ${f.findings.toLocaleString()} findings; ${where(f)}`,
    );
  }
}
for (const [name, rs] of runs) {
  const eps = rs.map((r) => r.eventsPerSecond).sort((a, b) => a - b);
  const median = eps.length % 2 === 1 ? eps[(eps.length - 1) / 2]! : (eps[eps.length / 2 - 1]! + eps[eps.length / 2]!) / 2;
  console.log(`  ${name}: median of ${eps.length} runs ${Math.round(median).toLocaleString()} events/s (${Math.round(eps[0]!).toLocaleString()}–${Math.round(eps.at(-1)!).toLocaleString()})`);
}
const replayEvents = Number(process.env.BENCH_REPLAY_EVENTS ?? 5_000_000);
if (replayEvents > 0) {
  console.log(`replay --speed max and DuckDB load, ${replayEvents.toLocaleString()}-event trace…`);
  const rp = await benchReplay(replayEvents);
  console.log(
    `  trace ${rp.traceMiB.toFixed(0)} MiB; reading and JSON.parse alone on one thread (replay parses in a worker beside the pipeline): ${Math.round(rp.parseOnlyEventsPerSecond).toLocaleString()} lines/s\n` +
      `  replay ${rp.events.toLocaleString()} events in ${rp.replaySeconds.toFixed(2)} s = ${Math.round(rp.replayEventsPerSecond).toLocaleString()} events/s (peak RSS ${rp.replayPeakRssMiB.toFixed(0)} MiB)\n` +
      `  load: replay + spool ${rp.loadReplaySeconds.toFixed(2)} s, DuckDB bulk load ${rp.duckdbLoadSeconds.toFixed(2)} s = ${Math.round(rp.duckdbRowsPerSecond).toLocaleString()} rows/s; peak RSS ${rp.peakRssMiB.toFixed(0)} MiB\n` +
      `  the same load into an in-memory database (query --load): ${Math.round(rp.duckdbMemoryRowsPerSecond).toLocaleString()} rows/s\n` +
      `  DuckDB copying those rows into a new table (no parsing: its own write speed for them here): ${Math.round(rp.duckdbCopyRowsPerSecond).toLocaleString()} rows/s`,
  );
}
const auditRecords = Number(process.env.BENCH_AUDIT_RECORDS ?? 200_000);
if (auditRecords > 0) {
  console.log(`audit log, ${auditRecords.toLocaleString()} finding records…`);
  const a = benchAudit(auditRecords, Math.min(auditRecords, 5_000));
  console.log(
    `  append ${Math.round(a.appendPerS).toLocaleString()} records/s (fsync at checkpoints), ${Math.round(a.appendFsyncEachPerS).toLocaleString()} records/s (fsync per record); verify ${Math.round(a.verifyPerS).toLocaleString()} records/s`,
  );
}
const siemFindings = Number(process.env.BENCH_SIEM_FINDINGS ?? 20_000);
if (siemFindings > 0) {
  console.log(`SIEM delivery, ${siemFindings.toLocaleString()} findings to rsyslog over TLS (OCSF)…`);
  const s = await benchSiem(siemFindings);
  console.log(`  ${Math.round(s.perS).toLocaleString()} findings/s delivered and written by rsyslog (${Math.round(s.bytesPerFinding)} bytes each)`);
}
const agentEvents = Number(process.env.BENCH_AGENT_EVENTS ?? 400_000);
if (agentEvents > 0) {
  console.log(`agent link, ${agentEvents.toLocaleString()} events over loopback mutual TLS into chainwatch serve…`);
  const g = await benchAgentLink(agentEvents);
  console.log(
    `  one agent ${Math.round(g.oneAgentPerS).toLocaleString()} events/s; eight agents at once ${Math.round(g.eightAgentsPerS).toLocaleString()} events/s in total (pushed → acknowledged after the host pipeline)\n` +
      `  added latency to a finding (push of the transmit → finding on the host): p50 ${g.findingLatencyMs.p50.toFixed(1)} ms, p99 ${g.findingLatencyMs.p99.toFixed(1)} ms (${g.findingLatencyMs.samples} runs)`,
  );
}
const baselineEvents = Number(process.env.BENCH_BASELINE_EVENTS ?? 1_000_000);
if (baselineEvents > 0) {
  console.log(`baseline scoring cost, ${baselineEvents.toLocaleString()}-event trace replayed with and without a baseline…`);
  const b = await benchBaselineCost(baselineEvents);
  console.log(`  off ${Math.round(b.offPerS).toLocaleString()} events/s, on ${Math.round(b.onPerS).toLocaleString()} events/s: scoring costs ${b.ratio.toFixed(2)}× the time`);
}
const churn = Number(process.env.BENCH_CHURN_SANDBOXES ?? 100_000);
if (churn > 0) {
  console.log(`sandbox churn, ${churn.toLocaleString()} sandboxes made, run and removed one after another (policy and baseline in force)…`);
  const ch = benchChurn(churn);
  console.log(`  heap after each quarter: ${ch.heapMiB.map((h) => `${h.toFixed(1)} MiB`).join(', ')}; serve's ledger write per acknowledgement with ${churn.toLocaleString()} sandboxes: ${ch.ledgerSaveMs.toFixed(3)} ms`);
}
const outputEvents = Number(process.env.BENCH_OUTPUT_EVENTS ?? 2_000_000);
if (outputEvents > 0) {
  console.log(`per-event sinks, ${outputEvents.toLocaleString()} events: --events FILE and the Prometheus counters…`);
  const o = await benchOutputs(outputEvents);
  console.log(
    `  --events FILE: ${Math.round(o.jsonlEventsPerSecond).toLocaleString()} events/s (${o.jsonlMiBPerSecond.toFixed(0)} MiB/s); metrics: ${o.metricsNsPerEvent.toFixed(1)} ns per event; a scrape (200 rules, 12 outputs): ${o.scrapeMs.toFixed(2)} ms`,
  );
}
if (process.env.BENCH_SKIP_MEMORY) process.exit(0);
const m = benchMemoryPerFd(2000, 500);
console.log(`memory per tracked fd: ${m.bytesPerFd.toFixed(0)} bytes (heap, ${m.fds.toLocaleString()} fds in 2,000 processes)`);
