import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { binaryRecordsLibrary, eventsCacheLibrary, perfBatchLibrary, tracepointsOf } from '../source/bpftrace-process.js';
import { cgroupV2Root } from '../source/cgroups.js';
import { ia32Emulation } from '../source/ia32-emulation.js';
import { renderProbe } from '../source/probe-catalog.js';
import { ChainwatchError } from '../util/errors.js';
import { runLiveSession } from './live-session.js';

/** One thing chainwatch needs from this machine, checked. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** false: chainwatch runs without it, worse (the detail says how). */
  required: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

const TRACING = '/sys/kernel/tracing';
const MIN_BPFTRACE: [number, number] = [0, 17];

/**
 * `chainwatch doctor`: whether this machine (a host, or a Kata guest before
 * its agent starts) can run the probes, each requirement checked with the
 * fix when it fails, then a self-test: the real probes watch `cat
 * /etc/hostname > /dev/null` and the read must resolve to /etc/hostname.
 */
export async function runDoctor(o: { selfTest: boolean }): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck): boolean => {
    checks.push(c);
    return c.ok;
  };
  add({ name: 'root', required: true, ok: process.getuid?.() === 0, detail: `uid ${process.getuid?.() ?? '?'}`, fix: 'run chainwatch as root: bpftrace loads BPF programs' });

  const v = spawnSync('bpftrace', ['--version'], { encoding: 'utf8' });
  const m = /v(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.stdout ?? '');
  const recent = m !== null && (Number(m[1]) > MIN_BPFTRACE[0] || (Number(m[1]) === MIN_BPFTRACE[0] && Number(m[2]) >= MIN_BPFTRACE[1]));
  add({
    name: 'bpftrace',
    required: true,
    ok: v.error === undefined && recent,
    detail: v.error !== undefined ? `not found on PATH (${v.error.message})` : (v.stdout.trim() || v.stderr.trim()),
    fix: v.error !== undefined ? 'apt-get install -y bpftrace' : `bpftrace ${MIN_BPFTRACE.join('.')} or later (Debian 12: apt-get install -y bpftrace)`,
  });

  const tracefs = existsSync(`${TRACING}/events/syscalls`);
  add({ name: 'tracefs', required: true, ok: tracefs, detail: tracefs ? `${TRACING}/events/syscalls` : `no syscall tracepoints under ${TRACING}`, fix: `mount -t tracefs nodev ${TRACING} (and a kernel with CONFIG_FTRACE_SYSCALLS)` });

  if (tracefs) {
    const wanted = tracepointsOf(renderProbe({ mode: 'host' }, []).script) ?? [];
    const missing = wanted.filter((t) => !existsSync(`${TRACING}/events/${t.replace(':', '/')}`));
    add({
      name: 'tracepoints',
      required: true,
      ok: wanted.length > 0 && missing.length === 0,
      detail: missing.length === 0 ? `all ${wanted.length} the probe attaches to are present` : `${missing.length} of ${wanted.length} missing: ${missing.join(', ')}`,
      fix: 'a kernel with these syscall, sched and sock tracepoints (chainwatch attaches to tracepoints only)',
    });
  }

  const btf = existsSync('/sys/kernel/btf/vmlinux');
  add({ name: 'btf', required: false, ok: btf, detail: btf ? '/sys/kernel/btf/vmlinux' : 'no kernel BTF: bpftrace resolves kernel types from headers, if at all', fix: 'a kernel built with CONFIG_DEBUG_INFO_BTF=y' });

  let cgroup: string | undefined;
  try {
    cgroup = cgroupV2Root();
  } catch (e) {
    cgroup = undefined;
    add({ name: 'cgroup v2', required: true, ok: false, detail: (e as ChainwatchError).message, fix: (e as ChainwatchError).fix ?? 'mount cgroup2' });
  }
  if (cgroup !== undefined) add({ name: 'cgroup v2', required: true, ok: true, detail: `mounted at ${cgroup} (a sandbox is a cgroup; its name is the task)` });

  const batch = perfBatchLibrary();
  add({ name: 'batched delivery', required: false, ok: batch !== undefined, detail: batch ?? 'dist/perf-batch.so not built: bpftrace is woken for every record, which slows watched programs', fix: 'apt-get install -y gcc libc6-dev, then npm run build' });
  const binary = binaryRecordsLibrary();
  add({ name: 'binary records', required: false, ok: binary !== undefined, detail: binary ?? 'dist/binary-records.so not built: bpftrace formats every record as text, which costs it and chainwatch CPU and mangles non-ASCII strings', fix: 'apt-get install -y gcc libc6-dev, then npm run build' });
  const cache = eventsCacheLibrary();
  add({ name: 'attach cache', required: false, ok: cache !== undefined, detail: cache ?? 'dist/events-cache.so not built: attaching takes ~15 s instead of ~5 s', fix: 'apt-get install -y gcc libc6-dev, then npm run build' });
  const ia32 = ia32Emulation();
  add({
    name: '32-bit syscalls',
    required: false,
    ok: true,
    detail: ia32.enabled
      ? `possible (${ia32.why}): the syscall tracepoints do not report them, so the probe keeps one program on every syscall entry (~50 ns each) to report a watched thread's first one; a host that runs no 32-bit programs can boot with ia32_emulation=false (Linux 6.7+) to close this path and drop the program`
      : `not possible (${ia32.why}): nothing to report, no program on every syscall entry`,
  });

  const ready = checks.every((c) => c.ok || !c.required);
  if (o.selfTest) {
    if (!ready) add({ name: 'self-test', required: true, ok: false, detail: 'not run: a required check above failed' });
    else add(await selfTest());
  }
  return { ok: checks.every((c) => c.ok || !c.required), checks };
}

async function selfTest(): Promise<DoctorCheck> {
  const t0 = Date.now();
  let resolved = false;
  try {
    const s = await runLiveSession({
      target: { mode: 'command', argv: ['sh', '-c', 'cat /etc/hostname > /dev/null'] },
      onEvent: (ev) => {
        if (ev.kind === 'io' && ev.dir === 'in' && ev.res?.fd?.path === '/etc/hostname') resolved = true;
      },
    });
    const d = s.decoder;
    const layouts = d.frames > 0 ? `; ${d.layoutsChecked} binary record layouts checked against bpftrace's text, ${d.layoutsWrong} wrong` : '';
    const detail = `${s.events} events, ${s.lostEvents} lost, probes attached in ${(s.attachMs / 1000).toFixed(1)} s, run ${((Date.now() - t0) / 1000).toFixed(1)} s${layouts}; the read of /etc/hostname ${resolved ? 'resolved to its file' : 'NOT seen'}`;
    const fix =
      d.layoutsWrong > 0
        ? 'this bpftrace lays printf records out otherwise than chainwatch reads them: run with CHAINWATCH_BINARY_RECORDS=0 (records as text) and report the bpftrace version'
        : 'run chainwatch watch -- cat /etc/hostname and read its log';
    return { name: 'self-test', required: true, ok: resolved && s.lostEvents === 0 && d.layoutsWrong === 0, detail, fix };
  } catch (e) {
    return { name: 'self-test', required: true, ok: false, detail: e instanceof ChainwatchError ? e.describe() : (e as Error).message, fix: 'the message above says what failed' };
  }
}
