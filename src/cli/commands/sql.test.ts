import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The built CLI (npm test builds first). */
const cli = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const replays = join(import.meta.dirname, '../../../replays');

describe('chainwatch load', () => {
  it('draws a progress bar on a terminal: each trace read, then its rows going into DuckDB; none with --no-progress or off a terminal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-load-cli-'));
    const traces = ['curl-put-shadow', 'benign-download'].map((n) => `'${join(replays, `${n}.trace.jsonl.gz`)}'`).join(' ');
    const onTty = (db: string, extra = '') => spawnSync('script', ['-qec', `'${process.execPath}' '${cli}' load '${join(dir, db)}' ${traces} ${extra}`, '/dev/null'], { encoding: 'utf8' });
    const r = onTty('a.duckdb');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/curl-put-shadow\.trace\.jsonl\.gz \|█+\| 100% · 253 events · \d+ ev\/s · 1 findings/);
    expect(r.stdout).toMatch(/benign-download\.trace\.jsonl\.gz \|█+\| 100% · 248 events · \d+ ev\/s · 1 findings · 248 rows of benign-download\.trace\.jsonl\.gz into DuckDB…/);
    const none = onTty('b.duckdb', '--no-progress');
    expect(none.status).toBe(0);
    expect(none.stdout).not.toMatch(/[░█]|\| *\d+%/);
    const piped = spawnSync(process.execPath, [cli, 'load', join(dir, 'c.duckdb'), join(replays, 'curl-put-shadow.trace.jsonl.gz')], { encoding: 'utf8' });
    expect(piped.status).toBe(0);
    expect(piped.stdout).toBe('');
    expect(piped.stderr).not.toMatch(/[░█]/);
    expect(piped.stderr).toContain('"msg":"loaded"');
  }, 30_000);
});

describe('chainwatch query --load', () => {
  it('draws the load’s bar on a terminal, ended before the result table', () => {
    const trace = join(replays, 'curl-put-shadow.trace.jsonl.gz');
    const r = spawnSync('script', ['-qec', `'${process.execPath}' '${cli}' query --load '${trace}' 'SELECT count(*) AS n FROM events'`, '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const bar = r.stdout.search(/\|█+\| 100% · 253 events · \d+ ev\/s · 1 findings · 253 rows of curl-put-shadow\.trace\.jsonl\.gz into DuckDB…/);
    expect(bar).toBeGreaterThanOrEqual(0);
    expect(r.stdout.indexOf('(1 row)')).toBeGreaterThan(bar);
    expect(r.stdout).toMatch(/\n253\r?\n\(1 row\)/);
  });
});
