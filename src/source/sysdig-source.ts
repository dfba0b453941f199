import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ChainwatchError } from '../util/errors.js';

/**
 * Recordings no one here wrote, read through the same text layout:
 * - `.scap` (sysdig/Falco capture): Debian's `sysdig -r FILE -p FORMAT`;
 * - `.sc` (sysdig text, as LID-DS ships it);
 * - `.zip` (a LID-DS 2021 recording: `.sc` plus a `.json` label file whose
 *   exploit times become header annotations).
 */
export type ImportFormat = 'sysdig-scap' | 'sysdig-text' | 'lid-ds';

export const SYSDIG_FORMAT = '%evt.rawtime %user.uid %proc.pid %proc.name %thread.tid %evt.type %evt.dir %evt.args';

export function importFormatOf(file: string): ImportFormat | undefined {
  if (/\.scap(\.gz)?$/i.test(file)) return 'sysdig-scap';
  if (/\.sc$/i.test(file)) return 'sysdig-text';
  if (/\.zip$/i.test(file)) return 'lid-ds';
  return undefined;
}

/** The programs that turn each format into text lines. */
function command(format: ImportFormat, file: string): { cmd: string; args: string[]; pkg: string } | undefined {
  if (format === 'sysdig-scap') return { cmd: 'sysdig', args: ['-r', file, '-p', SYSDIG_FORMAT], pkg: 'sysdig' };
  if (format === 'lid-ds') return { cmd: 'unzip', args: ['-p', file, '*.sc'], pkg: 'unzip' };
  return undefined;
}

/** Text lines of a recording, with a clear error when the converter is missing or fails; `onLine` returns false to stop. */
export function recordingLines(format: ImportFormat, file: string, onLine: (line: string) => boolean, done: (err?: Error) => void): () => void {
  const c = command(format, file);
  if (c === undefined) {
    // plain text: read it ourselves
    const input = createReadStream(file);
    let failed: Error | undefined;
    input.on('error', (e) => (failed = e));
    const stream = createInterface({ input, crlfDelay: Infinity });
    stream.on('line', (l) => {
      if (!onLine(l)) stream.close();
    });
    stream.on('close', () => done(failed && new ChainwatchError('IO', `cannot read recording: ${failed.message}`, { where: file, fix: 'check the path' })));
    return () => stream.close();
  }
  const child = spawn(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stopped = false;
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const rl = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  rl.on('line', (l) => {
    if (stopped) return;
    if (!onLine(l)) {
      stopped = true;
      child.kill();
    }
  });
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  child.on('close', (code) => {
    if (spawnError) done(new ChainwatchError('IO', `cannot run ${c.cmd}: ${spawnError.message}`, { where: file, fix: `apt-get install -y ${c.pkg} (scripts/setup.sh installs it)` }));
    else if (code !== 0 && !stopped) done(new ChainwatchError('TRACE_INVALID', `${c.cmd} could not read it (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ')}`, { where: file, fix: format === 'lid-ds' ? 'a LID-DS 2021 recording is a .zip holding NAME.sc and NAME.json' : 'is it a sysdig/Falco capture (.scap)?' }));
    else done();
  });
  return () => {
    stopped = true;
    child.kill();
  };
}

/** The LID-DS label file (NAME.json) from the zip, if any. */
export function lidDsLabels(file: string): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const child = spawn('unzip', ['-p', file, '*.json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', () => {
      try {
        resolve(JSON.parse(text) as Record<string, unknown>);
      } catch {
        resolve(undefined);
      }
    });
  });
}


export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
