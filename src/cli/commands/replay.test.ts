import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Finding } from '../../schema/finding.js';

/** The built CLI (npm test builds first). */
const cli = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const replays = join(import.meta.dirname, '../../../replays');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'replay', ...args], { encoding: 'utf8' });

describe('chainwatch replay', () => {
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

  it('rejects a bad --speed with usage (exit 2)', () => {
    const r = run('--speed', 'fast', join(replays, 'curl-put-shadow.trace.jsonl.gz'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--speed is max, realtime or a positive factor');
  });
});
