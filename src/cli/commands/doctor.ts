import { Command } from 'commander';
import { runDoctor, type DoctorReport } from '../../pipeline/doctor.js';
import { EXIT } from '../exit-codes.js';

/** The report as an aligned table: one line per check, the fix under a failed one. */
export function formatDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => {
    const mark = c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn';
    const fix = !c.ok && c.fix ? `\n${' '.repeat(width + 8)}fix: ${c.fix}` : '';
    return `${mark}  ${c.name.padEnd(width)}  ${c.detail}${fix}`;
  });
  lines.push(r.ok ? 'chainwatch can watch this machine.' : 'chainwatch cannot watch this machine yet: fix what FAILs above.');
  return `${lines.join('\n')}\n`;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .summary('check that this machine can run the probes, then watch a real program as a self-test')
    .description(
      'Checks root, bpftrace, tracefs, every tracepoint the probe attaches to, BTF, cgroup v2 and the\n' +
        'built preloads, each with its fix; then runs the real probes on `cat /etc/hostname` and checks\n' +
        'that its read resolves to the file. Exit 0 when chainwatch can watch this machine, 3 when not.',
    )
    .option('--quick', 'the checks only, no self-test (no probes attached)')
    .option('--json', 'the report as JSON')
    .action(async (opts: { quick?: boolean; json?: boolean }) => {
      const r = await runDoctor({ selfTest: opts.quick !== true });
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : formatDoctor(r));
      if (!r.ok) process.exitCode = EXIT.KERNEL;
    });
}
