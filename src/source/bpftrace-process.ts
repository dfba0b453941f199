import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Observable } from 'rxjs';
import { ChainwatchError } from '../util/errors.js';
import { moduleLog } from '../util/log.js';
import { packageDir } from '../util/package-dir.js';
import { PROBE_STRLEN } from '../util/probe-format.js';
import { ProbeOutput, type ProbeOutputPart } from './probe-output.js';

const log = moduleLog('source/bpftrace-process');

export interface BpftraceOptions {
  script: string;
  /** Per-CPU perf ring buffer size in pages (BPFTRACE_PERF_RB_PAGES). Small values make loss easy to provoke. */
  ringPages?: number;
  /** Most keys per BPF map (BPFTRACE_MAP_KEYS_MAX, default 65,536); small values let tests fill a map. */
  mapKeysMax?: number;
  /** Allow signal() (in-kernel policy enforcement): bpftrace --unsafe. */
  unsafe?: boolean;
  bpftrace?: string;
  /**
   * Batched delivery of the probe's records (probes/perf-batch.c): bpftrace
   * checks its buffers every `pollUs` instead of being woken for every
   * record, and less often once quiet (at most every `idleMaxUs`, default
   * 8,000; 0 keeps every check at `pollUs`). Default on when
   * dist/perf-batch.so was built; `false` turns it off.
   */
  batch?: { pollUs: number; idleMaxUs?: number } | false;
  /**
   * bpftrace reads the kernel's tracepoint list once, cut to the script's
   * tracepoints (probes/events-cache.c): attach in ~4 s instead of ~15 s
   * here. Default on when dist/events-cache.so was built; `false` turns it off.
   */
  eventsCache?: boolean;
  /**
   * bpftrace hands its printf records over as the bytes the probe wrote
   * (probes/binary-records.c), for the caller to read with the script's
   * printf layouts (decode/printf-layouts.ts), instead of formatted as JSON
   * text. Off unless asked for; asked for, on when dist/binary-records.so
   * was built and CHAINWATCH_BINARY_RECORDS is not 0.
   */
  binaryRecords?: boolean;
}

/** How bpftrace hands over the probe's printf records. */
export type RecordFormat = { mode: 'binary'; library: string } | { mode: 'text'; reason: string };

/** The built binary-records library, if the build had a C compiler. */
export function binaryRecordsLibrary(): string | undefined {
  const dist = packageDir('dist', 'binary-records.so');
  return dist === undefined ? undefined : join(dist, 'binary-records.so');
}

/** The caller turns binary records off when it cannot read the script's records from bytes (see decode/printf-layouts.ts). */
export function recordFormatFor(opts: Pick<BpftraceOptions, 'binaryRecords'>): RecordFormat {
  if (opts.binaryRecords !== true) return { mode: 'text', reason: 'binary records not asked for' };
  if (process.env.CHAINWATCH_BINARY_RECORDS === '0') return { mode: 'text', reason: 'binary records turned off (CHAINWATCH_BINARY_RECORDS=0)' };
  const library = binaryRecordsLibrary();
  if (library === undefined) return { mode: 'text', reason: 'dist/binary-records.so was not built (no C compiler at build time)' };
  return { mode: 'binary', library };
}

/**
 * chainwatch's own `kill(STOP_REQUEST_PID, 0)` asks the core probe for what
 * its END block prints (pending reads and runs, then BYE) without detaching:
 * a pid above the kernel's limit (4,194,304), so the call only fails (ESRCH).
 * The probe answers only processes outside the watch (chainwatch itself).
 */
export const STOP_REQUEST_PID = 1_073_741_822;

/**
 * chainwatch's own `kill(TICK_REQUEST_PID, 0)` asks the core probe for its
 * fast TICKs (every 5 ms for the next 40 ms), which it otherwise prints only
 * after records: a delivery proof on demand on a quiet host (see the
 * liveness block of probes/chainwatch.bt). Same kind of pid as above.
 */
export const TICK_REQUEST_PID = 1_073_741_821;

/** A request to the probe: chainwatch's own kill(pid, 0) of a pid that cannot exist, seen by the probe's sys_enter_kill. */
function askProbe(pid: number): void {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH, as intended: the probe saw the call
  }
}

/**
 * A BYE record: the last line of what END (or a stop request) prints. Each
 * BYE printf runs once, so with binary records too it comes as a JSON line
 * (the first record of every printf id is echoed as text): the probe
 * answers the stop request of chainwatch's own process only (`@ex`).
 */
const BYE_LINE = /^\{"type": "printf", "data": "BYE\\t/m;

const PAGE_SIZE = 4096;
const DEFAULT_RING_PAGES = 1024;
const DEFAULT_BATCH_POLL_US = 1000;
/** Once quiet, bpftrace's checks slow down to at most this interval: under the delivery proof's 10 ms margin, so no finding waits longer. */
const DEFAULT_BATCH_IDLE_MAX_US = 8000;

/** The built perf-batch library, if the build had a C compiler. */
export function perfBatchLibrary(): string | undefined {
  const dist = packageDir('dist', 'perf-batch.so');
  return dist === undefined ? undefined : join(dist, 'perf-batch.so');
}

/** The built events-cache library, if the build had a C compiler. */
export function eventsCacheLibrary(): string | undefined {
  const dist = packageDir('dist', 'events-cache.so');
  return dist === undefined ? undefined : join(dist, 'events-cache.so');
}

/**
 * The tracepoints a script names ("category:name", sorted, once each), or
 * undefined when bpftrace must see the kernel's whole list: a wildcard, or a
 * raw tracepoint. A name in a comment only keeps one more line in the list.
 */
export function tracepointsOf(script: string): string[] | undefined {
  if (/\b(?:rawtracepoint|rt):/.test(script)) return undefined;
  const names = new Set<string>();
  for (const m of script.matchAll(/\b(?:tracepoint|t):([^\s:,{/]+):([^\s:,{/]+)/g)) {
    const name = `${m[1]}:${m[2]}`;
    if (!/^[A-Za-z0-9_]+:[A-Za-z0-9_]+$/.test(name)) return undefined;
    names.add(name);
  }
  return [...names].sort();
}

/** How bpftrace's records reach it: batched (with the library and its settings) or woken per record. */
export type Delivery = { mode: 'batched'; library: string; pollUs: number; idleMaxUs: number; watermarkBytes: number } | { mode: 'per-record'; reason: string };

export function deliveryFor(opts: Pick<BpftraceOptions, 'batch' | 'ringPages'>): Delivery {
  if (opts.batch === false) return { mode: 'per-record', reason: 'batching turned off' };
  const library = perfBatchLibrary();
  if (library === undefined) return { mode: 'per-record', reason: 'dist/perf-batch.so was not built (no C compiler at build time)' };
  // wake bpftrace early when a quarter of a CPU's buffer is full: bursts are read before they overflow it
  const watermarkBytes = Math.max(256, ((opts.ringPages ?? DEFAULT_RING_PAGES) * PAGE_SIZE) / 4);
  return {
    mode: 'batched',
    library,
    pollUs: opts.batch?.pollUs ?? DEFAULT_BATCH_POLL_US,
    idleMaxUs: opts.batch?.idleMaxUs ?? DEFAULT_BATCH_IDLE_MAX_US,
    watermarkBytes,
  };
}

/**
 * A running bpftrace. `output$` emits its stdout once, as the whole lines
 * and binary record frames each read from the pipe completes (see
 * ProbeOutput); it
 * completes when bpftrace exits after `stop()`, and errors with a
 * ChainwatchError when bpftrace fails to start or dies on its own.
 */
export class BpftraceProcess {
  readonly output$: Observable<ProbeOutputPart[]>;
  /** How the probe's records arrive: as bytes read with the script's layouts, or as bpftrace's text. */
  readonly records: RecordFormat;
  /**
   * Resolves with the number of attached probes once BEGIN has run (its
   * HELLO record): bpftrace triggers BEGIN after attaching every probe, and
   * BEGIN seeds the in-kernel filter maps.
   */
  readonly attached: Promise<number>;
  readonly delivery: Delivery;
  /** The tracepoint-list cache bpftrace starts with (and the tracepoints it keeps), or undefined when off or not built. */
  readonly eventsCache: { library: string; keep: string[] | undefined } | undefined;
  private child: ChildProcess | undefined;
  private stopping = false;
  /**
   * How bpftrace's output ended: `stop-request` (finish(): the probe's answer
   * read, bpftrace killed, its detach not waited for) or `exit` (bpftrace
   * exited, after detaching); undefined while it runs.
   */
  ended: 'stop-request' | 'exit' | undefined;
  /** finish() asked the probe for its END records; the BYE that closes them ends output$. */
  private finishing = false;
  private endEarly: (() => void) | undefined;
  private readonly dir: string;
  private resolveAttached!: (n: number) => void;
  private rejectAttached!: (e: Error) => void;

  constructor(private readonly opts: BpftraceOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'chainwatch-'));
    this.delivery = deliveryFor(opts);
    this.records = recordFormatFor(opts);
    const delivery = this.delivery;
    const records = this.records;
    const cacheLibrary = opts.eventsCache === false ? undefined : eventsCacheLibrary();
    this.eventsCache = cacheLibrary === undefined ? undefined : { library: cacheLibrary, keep: tracepointsOf(opts.script) };
    this.attached = new Promise((res, rej) => {
      this.resolveAttached = res;
      this.rejectAttached = rej;
    });
    this.attached.catch(() => undefined);
    this.output$ = new Observable<ProbeOutputPart[]>((sub) => {
      const scriptFile = join(this.dir, 'chainwatch.bt');
      writeFileSync(scriptFile, opts.script);
      const cache = this.eventsCache;
      const preload = [
        cache?.library,
        delivery.mode === 'batched' ? delivery.library : undefined,
        records.mode === 'binary' ? records.library : undefined,
        process.env.LD_PRELOAD,
      ]
        .filter(Boolean)
        .join(' ');
      const child = spawn(opts.bpftrace ?? 'bpftrace', [...(opts.unsafe ? ['--unsafe'] : []), '-f', 'json', scriptFile], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          BPFTRACE_STRLEN: String(PROBE_STRLEN),
          ...(records.mode === 'binary' && { CHAINWATCH_BINARY_RECORDS: '1' }),
          BPFTRACE_MAP_KEYS_MAX: String(opts.mapKeysMax ?? 65_536),
          BPFTRACE_PERF_RB_PAGES: String(opts.ringPages ?? DEFAULT_RING_PAGES),
          ...(preload !== '' && { LD_PRELOAD: preload }),
          ...(cache?.keep !== undefined && { CHAINWATCH_EVENTS_KEEP: cache.keep.join(',') }),
          ...(delivery.mode === 'batched' && {
            CHAINWATCH_BATCH_POLL_US: String(delivery.pollUs),
            CHAINWATCH_BATCH_IDLE_MAX_US: String(delivery.idleMaxUs),
            CHAINWATCH_BATCH_WATERMARK: String(delivery.watermarkBytes),
          }),
        },
      });
      this.child = child;
      let attachedSeen = false;
      let probeCount: number | undefined;
      const stderrTail: string[] = [];
      const output = new ProbeOutput();
      const deliver = (parts: ProbeOutputPart[]): void => {
        if (parts.length === 0) return;
        sub.next(parts);
        for (const text of parts) if (typeof text === 'string') watchText(text);
      };
      // bpftrace's JSON lines: its attach report, the HELLO record and, when finishing, BYE
      const watchText = (text: string): void => {
        if (!attachedSeen) {
          if (probeCount === undefined) {
            const m = /^\{"type": "attached_probes".*?"probes":\s*(\d+)/m.exec(text);
            if (m) probeCount = Number(m[1]);
          }
          if (/^\{"type": "printf", "data": "HELLO\\t/m.test(text)) {
            attachedSeen = true;
            this.resolveAttached(probeCount ?? 0);
          }
        }
        if (this.finishing && BYE_LINE.test(text)) this.endEarly?.();
      };
      child.stdout!.on('data', (chunk: Buffer) => deliver(output.push(chunk)));
      const err = createInterface({ input: child.stderr!, crlfDelay: Infinity });
      err.on('line', (line) => {
        if (line.includes('RLIMIT_MEMLOCK')) return;
        if (line.startsWith('chainwatch perf-batch:')) log.warn({ bpftrace: line }, 'batched delivery');
        stderrTail.push(line);
        if (stderrTail.length > 40) stderrTail.shift();
        if (/WARNING|~~~|^\s*tracepoint:|^\s*$/.test(line) || !attachedSeen) log.debug({ bpftrace: line }, 'bpftrace stderr');
        else log.warn({ bpftrace: line }, 'bpftrace stderr');
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        const ce =
          e.code === 'ENOENT'
            ? new ChainwatchError('KERNEL_UNSUPPORTED', 'bpftrace is not installed', { fix: 'apt-get install -y bpftrace (as root)' })
            : new ChainwatchError('PROBE_START', `cannot start bpftrace: ${e.message}`);
        this.rejectAttached(ce);
        sub.error(ce);
      });
      let outClosed = false;
      let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      const finish = (): void => {
        if (!outClosed || exitInfo === undefined) return;
        const { code, signal } = exitInfo;
        const errors = stderrTail.filter((l) => /ERROR|error/.test(l)).join(' | ');
        if (!attachedSeen) {
          const e = new ChainwatchError('PROBE_START', `bpftrace exited before attaching (code ${code}, signal ${signal}): ${errors || stderrTail.slice(-5).join(' | ')}`, {
            fix: 'run as root on a kernel with BPF and tracepoints; mount tracefs at /sys/kernel/tracing if it is empty',
          });
          this.rejectAttached(e);
          sub.error(e);
        } else if (!this.stopping) {
          sub.error(new ChainwatchError('PROBE_EXITED', `bpftrace exited unexpectedly (code ${code}, signal ${signal}): ${errors || stderrTail.slice(-5).join(' | ')}`));
        } else {
          this.ended = 'exit';
          sub.complete();
        }
      };
      // after finish()'s BYE: every record was read; the kernel detaches the probes while bpftrace dies, unwaited
      this.endEarly = (): void => {
        this.endEarly = undefined;
        child.stdout!.removeAllListeners('data');
        child.stdout!.removeAllListeners('close');
        child.removeAllListeners('exit');
        child.kill('SIGKILL');
        child.stdout!.destroy();
        child.stderr!.destroy();
        err.close();
        child.unref();
        this.ended = 'stop-request';
        sub.complete();
      };
      child.stdout!.on('close', () => {
        deliver(output.end());
        outClosed = true;
        finish();
      });
      child.on('exit', (code, signal) => {
        exitInfo = { code, signal };
        finish();
      });
      return () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        rmSync(this.dir, { recursive: true, force: true });
      };
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Asks the probe for fast TICKs (see TICK_REQUEST_PID); a no-op for scripts without the request probe. */
  requestTicks(): void {
    askProbe(TICK_REQUEST_PID);
  }

  /**
   * Ends bpftrace without waiting for the kernel to detach its probes (one
   * tracepoint after the other, ~50 ms each here under the kernel's event
   * mutex: ~6 s for the core probe). Sends the stop request (see
   * STOP_REQUEST_PID): the probe prints what its END block would, then BYE;
   * output$ completes after that BYE and bpftrace is killed, the kernel
   * detaching its probes in the background. Only for a script with the stop
   * request probe; without a BYE within `timeoutMs` (bpftrace already
   * exiting, or the request lost in an overload), stop() as before.
   */
  finish(timeoutMs = 2_000): void {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null || this.stopping || this.finishing) return;
    this.finishing = true;
    askProbe(STOP_REQUEST_PID);
    const t = setTimeout(() => {
      if (this.endEarly === undefined) return;
      log.warn({ timeout_ms: timeoutMs }, 'probe did not answer the stop request: stopping bpftrace and waiting for it to detach');
      this.finishing = false;
      this.stop();
    }, timeoutMs);
    t.unref();
  }

  /**
   * Asks bpftrace to stop (SIGINT): it detaches (several seconds with many
   * tracepoints), prints pending I/O runs and exits; output$ then completes.
   * A second call, or `timeoutMs` without exit, kills it.
   */
  stop(timeoutMs = 30_000): void {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    if (this.stopping) {
      child.kill('SIGKILL');
      return;
    }
    this.stopping = true;
    child.kill('SIGINT');
    // bpftrace 0.17 looks at its stop flag only when a wait is interrupted: a SIGINT that lands while it is not
    // waiting (unbatched; perf-batch.c covers the batched case) goes unnoticed, so it is sent again each second
    const again = setInterval(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    }, 1000);
    again.unref();
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    t.unref();
    child.once('exit', () => {
      clearTimeout(t);
      clearInterval(again);
    });
  }
}
