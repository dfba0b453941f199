import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTraces } from '../pipeline/load-session.js';
import { rerecord, segmentsOf } from '../testing/rotate.js';
import { DuckDbStore } from './duckdb-store.js';
import { normaliseRows, toCsv } from './format-rows.js';
import { EVENT_ENUMS, enumType } from './event-rows.js';
import { Event } from '../schema/event.js';
import { WORKER_MIN_BYTES } from '../source/trace-reader.js';

/** SQL over the replay library (replays/README.md): known traces, known answers. */
const replays = join(import.meta.dirname, '../../replays');
const dir = mkdtempSync(join(tmpdir(), 'cw-duck-'));
const dbFile = join(dir, 'cw.duckdb');
let db: DuckDbStore;

const q = async (sql: string): Promise<Record<string, unknown>[]> => {
  const r = await db.query(sql);
  return normaliseRows(r.rows, r.columns, r.types);
};

beforeAll(async () => {
  db = await DuckDbStore.open(dbFile);
  await loadTraces({ traces: ['curl-put-shadow', 'pipeline-gzip-nc', 'benign-download'].map((n) => join(replays, `${n}.trace.jsonl.gz`)) }, db);
});
afterAll(() => db?.close());

/** Runs `fn` on a fresh in-memory store, closed after it. */
async function inMemory(fn: (store: DuckDbStore) => Promise<void>): Promise<void> {
  const store = await DuckDbStore.open();
  try {
    await fn(store);
  } finally {
    store.close();
  }
}

describe('DuckDB store over the replay library', () => {
  it('loads every event and finding of each trace into a file on disk', async () => {
    expect(existsSync(dbFile)).toBe(true);
    const t = await q('SELECT trace, events, host FROM traces ORDER BY trace');
    expect(t.map((r) => r.trace)).toEqual(['benign-download.trace.jsonl.gz', 'curl-put-shadow.trace.jsonl.gz', 'pipeline-gzip-nc.trace.jsonl.gz']);
    const counts = await q('SELECT trace, count(*) AS n FROM events GROUP BY trace ORDER BY trace');
    expect(counts.map((r) => r.n)).toEqual(t.map((r) => r.events));
    const f = await q('SELECT trace, rule, source_path, data_class FROM findings ORDER BY trace');
    expect(f).toEqual([
      { trace: 'curl-put-shadow.trace.jsonl.gz', rule: 'exfil.read-then-transmit', source_path: '/etc/shadow', data_class: 'secret' },
      { trace: 'pipeline-gzip-nc.trace.jsonl.gz', rule: 'exfil.read-then-transmit', source_path: '/etc/shadow', data_class: 'secret' },
    ]);
  });

  it('finding_hops: every hop of the pipeline chain, in order, through cat, gzip and nc', async () => {
    const hops = await q(`SELECT hop, comm, syscall, object FROM finding_hops WHERE trace = 'pipeline-gzip-nc.trace.jsonl.gz' ORDER BY hop`);
    expect(hops[0]).toMatchObject({ hop: 1, comm: 'cat', syscall: 'read', object: '/etc/shadow' });
    expect(new Set(hops.map((h) => h.comm))).toEqual(new Set(['cat', 'gzip', 'nc']));
    expect(String(hops.at(-1)!.object)).toMatch(/^socket 127\.0\.0\.2:\d+$/);
    expect(hops.map((h) => h.hop)).toEqual(hops.map((_, i) => i + 1));
  });

  it('top_destinations and bytes_out_per_minute agree, and name the finding’s sink', async () => {
    const top = await q(`SELECT peer_addr, peer_port, bytes_out FROM top_destinations WHERE trace = 'curl-put-shadow.trace.jsonl.gz' AND family = 'inet'`);
    const sink = await q(`SELECT sink_address, sink_port, bytes_sent FROM findings WHERE trace = 'curl-put-shadow.trace.jsonl.gz'`);
    expect(top).toHaveLength(1);
    expect(top[0]).toMatchObject({ peer_addr: sink[0]!.sink_address, peer_port: sink[0]!.sink_port });
    expect(top[0]!.bytes_out as number).toBeGreaterThanOrEqual(sink[0]!.bytes_sent as number);
    const perMin = await q(`SELECT sum(bytes_out) AS b FROM bytes_out_per_minute WHERE trace = 'curl-put-shadow.trace.jsonl.gz'`);
    const all = await q(`SELECT sum(bytes_out) AS b FROM top_destinations WHERE trace = 'curl-put-shadow.trace.jsonl.gz'`);
    expect(perMin[0]!.b).toBe(all[0]!.b);
  });

  it('processes and objects: resolved names, not numbers', async () => {
    const p = await q(`SELECT comm, exe FROM processes WHERE trace = 'pipeline-gzip-nc.trace.jsonl.gz' AND comm IN ('cat', 'gzip', 'nc') ORDER BY comm`);
    expect(p.map((r) => r.comm)).toEqual(['cat', 'gzip', 'nc']);
    // the command line each exec'd last
    const args = await q(`SELECT comm, args FROM processes WHERE trace = 'pipeline-gzip-nc.trace.jsonl.gz' AND comm IN ('cat', 'gzip', 'nc') ORDER BY comm`);
    expect(args.map((r) => (r.args as string[]).slice(0, 2))).toEqual([['cat', '/etc/shadow'], ['gzip'], ['nc', '-N']]);
    for (const r of p) expect(String(r.exe)).toMatch(/^\/(usr\/)?bin\//);
    const o = await q(`SELECT type, bytes_in FROM objects WHERE trace = 'curl-put-shadow.trace.jsonl.gz' AND path = '/etc/shadow'`);
    // curl read all of /etc/shadow, as large as it was when recorded
    const shadow = (JSON.parse(readFileSync(join(replays, 'curl-put-shadow.findings.jsonl'), 'utf8').split('\n')[0]!) as { bytes_read: number }).bytes_read;
    expect(o).toEqual([{ type: 'file', bytes_in: shadow }]);
  });

  it('stores the event column with ZSTD: the file is in the v1.3.0 storage format', async () => {
    await db.conn.run('CHECKPOINT');
    // a file in DuckDB's default (v1.0-compatible) format would store a column asked for ZSTD uncompressed
    const c = await q(`SELECT DISTINCT compression FROM pragma_storage_info('events') WHERE column_name = 'event' AND segment_type = 'VARCHAR'`);
    expect(c.map((r) => r.compression)).toEqual(['ZSTD']);
  });

  it('stores the closed sets (kind, dir, obj_type, family) as ENUMs of every value the schema admits, read and filtered as text', async () => {
    const types = await q(`SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'events' AND column_name IN ('kind', 'dir', 'obj_type', 'family') ORDER BY column_name`);
    expect(types).toEqual(['dir', 'family', 'kind', 'obj_type'].map((c) => ({ column_name: c, data_type: enumType(EVENT_ENUMS[c as keyof typeof EVENT_ENUMS]) })));
    expect(EVENT_ENUMS.kind).toHaveLength(Event.options.length);
    expect(EVENT_ENUMS.dir).toEqual(['in', 'out', 'recv', 'send']);
    const kinds = await q(`SELECT kind, count(*) AS n FROM events WHERE trace = 'curl-put-shadow.trace.jsonl.gz' AND (kind LIKE 'fd.%' OR kind = 'io') GROUP BY kind ORDER BY kind`);
    expect(kinds.map((r) => r.kind)).toEqual([...kinds.map((r) => r.kind as string)].sort());
    expect(kinds.map((r) => r.kind)).toContain('io');
    expect(await q(`SELECT count(*) AS n FROM events WHERE kind = 'no.such.kind'`)).toEqual([{ n: 0 }]);
  });

  it('loading a trace again replaces it', async () => {
    const before = await q('SELECT count(*) AS n FROM events');
    await loadTraces({ traces: [join(replays, 'benign-download.trace.jsonl.gz')] }, db);
    expect(await q('SELECT count(*) AS n FROM events')).toEqual(before);
  });

  it('a load remakes the derived rows of its own traces only, and they are what remaking every row gives', async () => {
    await inMemory(async (mem) => {
      const [shadow, pipeline, download] = ['curl-put-shadow', 'pipeline-gzip-nc', 'benign-download'].map((n) => join(replays, `${n}.trace.jsonl.gz`));
      await loadTraces({ traces: [shadow!, pipeline!] }, mem);
      const snapshot = async (): Promise<string> => {
        const out: unknown[] = [];
        for (const t of ['processes', 'objects', 'chain_hops']) out.push((await mem.query(`SELECT * FROM ${t} ORDER BY ALL`)).rows);
        return JSON.stringify(out);
      };
      // a mark on another trace's row: a load that remade every row would wipe it
      await mem.conn.run(`UPDATE processes SET comm = 'marked' WHERE trace = 'curl-put-shadow.trace.jsonl.gz'`);
      await loadTraces({ traces: [pipeline!, download!] }, mem);
      const marked = async (): Promise<number> => Number((await mem.query(`SELECT count(*) AS n FROM processes WHERE comm = 'marked'`)).rows[0]!['n']);
      expect(await marked()).toBeGreaterThan(0);
      // remaking that trace's rows takes the mark away
      await mem.derive(['curl-put-shadow.trace.jsonl.gz']);
      expect(await marked()).toBe(0);
      const incremental = await snapshot();
      await mem.derive();
      const whole = await snapshot();
      expect(incremental).toBe(whole);
      for (const t of ['processes', 'objects', 'chain_hops']) {
        const n = await mem.query(`SELECT count(DISTINCT trace) AS n FROM ${t}`);
        expect(Number(n.rows[0]!['n']), t).toBe(t === 'chain_hops' ? 2 : 3);
      }
      // a table not in today's shape (an older chainwatch's file) is remade whole
      await mem.conn.run('ALTER TABLE processes DROP COLUMN args');
      await loadTraces({ traces: [download!] }, mem);
      expect(await snapshot()).toBe(whole);
    });
  });

  it('--findings: findings printed elsewhere, under the file\'s name, with their hops; loading the file again replaces them', async () => {
    await inMemory(async (mem) => {
      const findings = join(replays, 'pipeline-gzip-nc.findings.jsonl');
      const ids = new Set(readFileSync(findings, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id));
      const count = async (t: string): Promise<number> => Number((await mem.query(`SELECT count(DISTINCT finding_id) AS n FROM ${t} WHERE trace = 'pipeline-gzip-nc.findings.jsonl'`)).rows[0]!['n']);
      const rows = async (): Promise<number> => Number((await mem.query(`SELECT count(*) AS n FROM findings WHERE trace = 'pipeline-gzip-nc.findings.jsonl'`)).rows[0]!['n']);
      for (let i = 0; i < 2; i++) {
        const s = await loadTraces({ traces: [join(replays, 'benign-download.trace.jsonl.gz')], findings: [findings] }, mem);
        expect(s.extraFindings).toBe(ids.size);
        expect(await rows()).toBe(ids.size);
        expect(await count('chain_hops')).toBe(ids.size);
      }
    });
  });

  it('a bad --findings file is reported (FILE:LINE, exit 5) before any trace is read', async () => {
    await inMemory(async (mem) => {
      const bad = join(dir, 'bad-findings.jsonl');
      writeFileSync(bad, '{"id": "x"}\n');
      const err = await loadTraces({ traces: [join(replays, 'benign-download.trace.jsonl.gz')], findings: [bad] }, mem).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TRACE_INVALID', where: `${bad}:1` });
      expect(Number((await mem.query('SELECT count(*) AS n FROM traces')).rows[0]!['n'])).toBe(0);
    });
  });

  it('a missing trace or a folder among the traces: a usage error before anything is read, and no database file made', async () => {
    const file = join(dir, 'never-made.duckdb');
    for (const [bad, message] of [
      [join(dir, 'nothere.trace.jsonl'), 'no such trace'],
      [join(dir, 'nothere.scap'), 'no such trace'],
      [dir, 'is a folder, not a trace'],
    ] as const) {
      const err = await loadTraces({ db: file, traces: [join(replays, 'benign-download.trace.jsonl.gz'), bad] }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'USAGE', where: bad, message });
      expect(existsSync(file)).toBe(false);
    }
  });

  it('exports every table as Parquet', async () => {
    const out = join(dir, 'parquet');
    await db.exportParquet(out);
    const files = readdirSync(out);
    for (const t of ['events', 'findings', 'processes', 'objects', 'chain_hops', 'traces']) expect(files).toContain(`${t}.parquet`);
  });

  it('a Parquet export where no folder can be made: an output error naming the folder (exit 6), not a crash', async () => {
    const blocked = join(dir, 'a-file');
    writeFileSync(blocked, '');
    const err = await db.exportParquet(join(blocked, 'out')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTPUT_FAILED', where: join(blocked, 'out') });
    expect((err as Error).message).toMatch(/^cannot export the tables as Parquet: /);
  });

  it('a bad query names the problem and where to look', async () => {
    await expect(db.query('SELECT * FROM nope')).rejects.toMatchObject({ code: 'QUERY_INVALID', where: 'SQL' });
  });
});

describe('CSV output', () => {
  it('round-trips any text through DuckDB’s own CSV reader', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.string(), fc.string({ unit: 'grapheme' })), { minLength: 1, maxLength: 8 }), async (pairs) => {
        const rows = pairs.map(([a, b]) => ({ a: `x${a}`, b: `y${b}` }));
        const file = join(dir, 'rt.csv');
        writeFileSync(file, toCsv(rows, ['a', 'b']));
        const r = await db.query(`SELECT a, b FROM read_csv('${file}', header = true, columns = {'a': 'VARCHAR', 'b': 'VARCHAR'}, quote = '"', escape = '"', delim = ',')`);
        expect(r.rows).toEqual(rows);
      }),
      { numRuns: 40 },
    );
  });
});

describe('a big trace loaded (parsed in a worker, each line handed on beside its event)', () => {
  it('stores a line that is exactly its event as the file holds it, and any other as the event’s own JSON; every row and finding as before', async () => {
    const [header, ...events] = gunzipSync(readFileSync(join(replays, 'curl-put-shadow.trace.jsonl.gz'))).toString('utf8').split('\n').filter(Boolean);
    const last = (JSON.parse(events.at(-1)!) as { ts: number }).ts;
    // reads by a process no one forked, after the recorded run: enough lines for the reader to start its worker
    const pad: string[] = [];
    for (let i = 0; pad.length * 150 < WORKER_MIN_BYTES + (1 << 20); i++) {
      pad.push(JSON.stringify({ ts: last + 1 + i, cgroup: 1, pid: 4242, tid: 4242, kind: 'io', dir: 'in', syscall: 'read', fd: 0, bytes: 1, calls: 1, ts_first: last + 1 + i, obj: null }));
    }
    const spaced = pad[0]!.replaceAll(',"', ', "');
    const tabbed = pad[1]!.replaceAll(',"', ',\t"');
    const extraKey = pad[2]!.replace('{', '{"note":"not in the schema",');
    const file = join(dir, 'big.trace.jsonl');
    writeFileSync(file, [header, ...events, spaced, tabbed, extraKey, ...pad.slice(3)].map((l) => `${l}\n`).join(''));
    expect(statSync(file).size).toBeGreaterThan(WORKER_MIN_BYTES);
    await inMemory(async (store) => {
      const [t] = (await loadTraces({ traces: [file] }, store)).traces;
      expect(t!.events).toBe(events.length + pad.length);
      const texts = async (where: string): Promise<string[]> => (await store.query(`SELECT event FROM events WHERE ${where} ORDER BY event`)).rows.map((r) => r['event'] as string);
      // the recorded run's lines (written by watch --record) and the canonical padding: each row holds its line as it is
      expect(await texts(`ts <= ${last}`)).toEqual([...events].sort());
      const got = (await store.query(`SELECT event FROM events WHERE ts > ${last} ORDER BY ts`)).rows.map((r) => r['event'] as string);
      expect(got.slice(3)).toEqual(pad.slice(3));
      // a line with spaces is still exactly its event: kept byte for byte
      expect(got[0]).toBe(spaced);
      // a tab (JSON whitespace, not carried by the spool) and a key zod strips: the event's own JSON instead
      expect(got[1]).toBe(pad[1]);
      expect(got[2]).toBe(pad[2]);
      expect((await store.query('SELECT rule, source_path FROM findings')).rows).toEqual([{ rule: 'exfil.read-then-transmit', source_path: '/etc/shadow' }]);
    });
  }, 60_000);
});

describe('a trace with a bad line in the middle', () => {
  it('loads everything before the line (its trace marked cut there, earlier traces whole), then reports the line; later traces are not read', async () => {
    const [header, ...events] = gunzipSync(readFileSync(join(replays, 'curl-put-shadow.trace.jsonl.gz'))).toString('utf8').split('\n').filter(Boolean);
    const last = (JSON.parse(events.at(-1)!) as { ts: number }).ts;
    const pad = (n: number): string[] =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ ts: last + 1 + i, cgroup: 1, pid: 4242, tid: 4242, kind: 'io', dir: 'in', syscall: 'read', fd: 0, bytes: 1, calls: 1, ts_first: last + 1 + i, obj: null }));
    // small: read on the pipeline's thread; big: in the parse worker
    for (const [name, extra] of [['small', 10], ['big', Math.ceil(WORKER_MIN_BYTES / 150) + 1000]] as const) {
      const lines = [header!, ...events, ...pad(extra)];
      const badAt = lines.length - 5;
      lines[badAt - 1] = '{"ts": 1, "kind": "io"';
      const file = join(dir, `bad-${name}.trace.jsonl`);
      writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
      await inMemory(async (store) => {
        const traces = [join(replays, 'benign-download.trace.jsonl.gz'), file, join(replays, 'pipeline-gzip-nc.trace.jsonl.gz')];
        await expect(loadTraces({ traces }, store)).rejects.toMatchObject({ code: 'TRACE_INVALID', where: `${file}:${badAt}` });
        const t = (await store.query('SELECT trace, events, cut FROM traces ORDER BY trace')).rows;
        expect(t.map((r) => [r['trace'], Number(r['events'])])).toEqual([[`bad-${name}.trace.jsonl`, badAt - 2], ['benign-download.trace.jsonl.gz', 248]]);
        expect(t[0]!['cut']).toMatch(new RegExp(`^stopped at ${file.replaceAll('.', '\\.')}:${badAt}: not JSON: `));
        expect(t[1]!['cut']).toBeNull();
        expect(Number((await store.query(`SELECT count(*) AS n FROM events WHERE trace = 'bad-${name}.trace.jsonl'`)).rows[0]!['n'])).toBe(badAt - 2);
        // the exfiltration in the events before the bad line is a finding
        expect((await store.query('SELECT trace, rule FROM findings')).rows).toEqual([{ trace: `bad-${name}.trace.jsonl`, rule: 'exfil.read-then-transmit' }]);
      });
    }
  }, 60_000);
});

describe('a database file made by another chainwatch', () => {
  it('an ENUM with fewer members is widened to both sets when opened: its rows stay, new kinds load', async () => {
    const file = join(dir, 'older.duckdb');
    const old = await DuckDbStore.open(file);
    // as if made when fewer kinds existed, and one since gone
    await old.conn.run(`ALTER TABLE events ALTER kind TYPE ${enumType(['gone.kind', 'io'])}`);
    await old.conn.run(`INSERT INTO events (trace, ts, kind, cgroup, pid, tid, event) VALUES ('x', 1, 'gone.kind', 0, 1, 1, '{}'), ('x', 2, 'io', 0, 1, 1, '{}')`);
    old.close();
    const store = await DuckDbStore.open(file);
    try {
      const t = (await store.query(`SELECT data_type FROM duckdb_columns() WHERE table_name = 'events' AND column_name = 'kind'`)).rows[0]!['data_type'];
      expect(t).toBe(enumType([...EVENT_ENUMS.kind, 'gone.kind'].sort()));
      expect((await store.query(`SELECT kind FROM events WHERE trace = 'x' ORDER BY ts`)).rows).toEqual([{ kind: 'gone.kind' }, { kind: 'io' }]);
      await loadTraces({ traces: [join(replays, 'curl-put-shadow.trace.jsonl.gz')] }, store);
      expect((await store.query(`SELECT count(DISTINCT kind) AS n FROM events WHERE trace LIKE 'curl%'`)).rows[0]!['n']).not.toBe('0');
    } finally {
      store.close();
    }
    // opened again: nothing left to widen, the type stays
    const again = await DuckDbStore.open(file);
    expect((await again.query(`SELECT data_type FROM duckdb_columns() WHERE table_name = 'events' AND column_name = 'kind'`)).rows[0]!['data_type']).toBe(enumType([...EVENT_ENUMS.kind, 'gone.kind'].sort()));
    again.close();
  });

  it('a VARCHAR column (made before ENUMs) stays VARCHAR and loads', async () => {
    const file = join(dir, 'varchar.duckdb');
    const old = await DuckDbStore.open(file);
    await old.conn.run('ALTER TABLE events ALTER kind TYPE VARCHAR');
    old.close();
    const store = await DuckDbStore.open(file);
    try {
      await loadTraces({ traces: [join(replays, 'curl-put-shadow.trace.jsonl.gz')] }, store);
      expect((await store.query(`SELECT data_type FROM duckdb_columns() WHERE table_name = 'events' AND column_name = 'kind'`)).rows[0]!['data_type']).toBe('VARCHAR');
      expect((await store.query(`SELECT rule FROM findings`)).rows).toEqual([{ rule: 'exfil.read-then-transmit' }]);
    } finally {
      store.close();
    }
  });
});

describe('a rotated recording loaded', () => {
  it('its segments load as one stream: the chain crossing a segment boundary is a finding, no state event twice', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cw-duck-rot-'));
    await rerecord(join(replays, 'pipeline-gzip-nc.trace.jsonl.gz'), join(d, 'run.trace.jsonl.gz'), 6000);
    const segments = segmentsOf(d, 'run.trace.jsonl.gz');
    expect(segments.length).toBeGreaterThan(3);
    await inMemory(async (store) => {
      const r = await loadTraces({ traces: segments }, store);
      const whole = await loadTraces({ traces: [join(replays, 'pipeline-gzip-nc.trace.jsonl.gz')] }, store);
      const rows = async (sql: string): Promise<Record<string, unknown>[]> => {
        const x = await store.query(sql);
        return normaliseRows(x.rows, x.columns, x.types);
      };
      expect(await rows("SELECT rule, source_path FROM findings WHERE trace LIKE 'run%'")).toEqual([{ rule: 'exfil.read-then-transmit', source_path: '/etc/shadow' }]);
      // exactly the events of the unrotated trace: each continuing segment's state events are not loaded again
      expect(r.traces.reduce((n, t) => n + t.events, 0)).toBe(whole.traces[0]!.events);
      const byTrace = await rows("SELECT trace, count(*) AS n FROM events WHERE trace LIKE 'run%' GROUP BY trace");
      expect(byTrace.reduce((n, x) => n + Number(x.n), 0)).toBe(whole.traces[0]!.events);
    });
  });
});
