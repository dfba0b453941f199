import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event, ObjectView } from '../schema/event.js';
import { SystemState } from '../state/system-state.js';
import { ev as make } from '../testing/events.js';
import { packageDir } from '../util/package-dir.js';
import { DuckDbStore, type TraceInfo } from './duckdb-store.js';
import { EVENT_COLUMNS, eventRowLine, eventRowPrefix, recordedJson } from './event-rows.js';

/** Every line of each recorded replay (real runs of real programs) with its event as the state resolved it. */
function resolvedReplays(): { line: string; ev: Event }[] {
  const dir = packageDir('replays', 'README.md')!;
  const out: { line: string; ev: Event }[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.trace.jsonl.gz'))) {
    const state = new SystemState();
    const lines = gunzipSync(readFileSync(join(dir, f))).toString('utf8').split('\n').filter(Boolean);
    for (const line of lines.slice(1)) out.push({ line, ev: state.apply(JSON.parse(line) as Event) });
  }
  return out;
}

/** The oracle: each column by name, as docs/query.md describes it (null where there is no value). */
function columnsOf(trace: string, ev: Event): Record<string, string | number | null> {
  const e = ev as Record<string, unknown>;
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const r = ev.res;
  const o: ObjectView | undefined = r?.fd ?? r?.fd_out ?? r?.ret ?? r?.listen_fd;
  const connect = ev.kind === 'net.addr' && ev.op === 'connect';
  return {
    trace, ts: ev.ts, kind: ev.kind, cgroup: ev.cgroup, pid: ev.pid, tid: ev.tid,
    task: ev.proc?.task ?? null, comm: ev.proc?.comm ?? str(e.comm), exe: ev.proc?.exe ?? null, ppid: ev.proc?.ppid ?? num(e.ppid),
    syscall: str(e.syscall), dir: str(e.dir), fd: num(e.fd) ?? num(e.fd_out), ret: num(e.ret), bytes: num(e.bytes), calls: num(e.calls),
    path: ev.abs?.path ?? str(e.path) ?? (ev.kind === 'process.exec' ? ev.filename : ev.kind === 'io.xfer' ? r?.fd_in?.path : o?.path) ?? null,
    obj: o?.id ?? str(e.obj) ?? str(e.obj_out), obj_type: o?.type ?? null, channel: o?.channel ?? null, family: o?.family ?? str(e.family),
    peer_addr: o?.peer?.addr ?? (connect ? (ev.addr ?? ev.path ?? null) : null),
    peer_port: o?.peer?.port ?? (connect ? (ev.port ?? null) : null),
  };
}
const COLUMNS = Object.keys(EVENT_COLUMNS).filter((k) => k !== 'event');

const info = (trace: string): TraceInfo => ({ trace, host: 'h', kernel: 'k', startTime: new Date(0).toISOString(), wallEpochNs: '0', scope: {}, header: {}, events: 0, cut: null });
const dir = mkdtempSync(join(tmpdir(), 'cw-rows-'));
let db: DuckDbStore;
let n = 0;
beforeAll(async () => (db = await DuckDbStore.open()));
afterAll(() => db?.close());

/** Spools the events as the loader does and loads them; returns the events table's rows in order. */
async function load(events: Event[]): Promise<Record<string, unknown>[]> {
  const trace = `t${n++}`;
  const file = join(dir, `${trace}.tsv`);
  writeFileSync(file, events.map((e) => `${eventRowLine(trace, e)}\n`).join(''));
  await db.loadTrace(info(trace), file, undefined);
  return (await db.query(`SELECT * EXCLUDE (time) FROM events WHERE trace = '${trace}' ORDER BY ts`)).rows;
}

describe('event rows spooled for DuckDB', () => {
  it('hold each recorded event as the trace has it, and what the state resolved in the columns', async () => {
    const all = resolvedReplays();
    expect(all.filter((x) => x.ev.res !== undefined).length).toBeGreaterThan(1000);
    for (const { line, ev } of all) expect(JSON.parse(recordedJson(ev))).toEqual(JSON.parse(line));
    const open = all.find((x) => x.ev.kind === 'file.open' && x.ev.res?.ret !== undefined)!.ev;
    const [row] = await load([open]);
    expect(JSON.parse(row!['event'] as string)).toEqual(JSON.parse(recordedJson(open)));
    expect(row).toMatchObject({ kind: 'file.open', pid: open.pid, comm: open.proc!.comm, task: open.proc!.task, obj: open.res!.ret!.id, obj_type: 'file' });
  });

  it('put every column of every recorded event where the oracle says, and DuckDB reads each back as that value', async () => {
    const all = resolvedReplays().map((x) => x.ev);
    const cell = (v: string | number | null): string =>
      v === null ? '\\N' : typeof v === 'number' ? String(v) : v === '\\N' || /[\t\n\r\x01]/.test(v) ? `\x01${v.replaceAll('\x01', '\x01\x01')}\x01` : v;
    for (const ev of all) expect(eventRowPrefix('t', ev)).toBe(`${COLUMNS.map((k) => cell(columnsOf('t', ev)[k]!)).join('\t')}\t`);
    const kinds = new Set(all.map((ev) => ev.kind));
    expect(kinds.size).toBeGreaterThan(15);
    const rows = await load(all.map((ev, i) => ({ ...ev, ts: i + 1 }) as Event));
    expect(rows).toHaveLength(all.length);
    rows.forEach((row, i) => {
      const want = columnsOf(row['trace'] as string, { ...all[i]!, ts: i + 1 } as Event);
      // BIGINT columns come back as text (exact beyond 2^53)
      for (const k of COLUMNS) expect([k, typeof want[k] === 'number' && row[k] !== null ? Number(row[k]) : row[k]]).toEqual([k, want[k]]);
    });
  }, 60_000);

  it('any text in any column reads back exactly: tabs, line breaks, the quote byte, "\\N", empty, non-ASCII (fast-check, real DuckDB)', async () => {
    const tricky = fc.oneof(fc.constantFrom('', '\\N', '\t', '\n', '\r\n', '\x01', '\x01\x01', '"', "'", '\\', 'a\tb\x01c\nd', 'ünï €', '\u{1F600}'), fc.string({ unit: 'grapheme', maxLength: 12 }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(tricky, tricky, tricky), { minLength: 1, maxLength: 8 }), async (rows) => {
        const events = rows.map(([path, comm, task], i) => {
          const e = make.open(100 + i, 3, `0:1:${i}`, path);
          e.ts = i + 1;
          e.proc = { ppid: 1, comm, task, tree: 100 + i, exe: `${comm}/exe` };
          e.abs = { path };
          return e;
        });
        const got = await load(events);
        expect(got.map((r) => [r['path'], r['comm'], r['task'], r['exe']])).toEqual(rows.map(([path, comm, task]) => [path, comm, task, `${comm}/exe`]));
        expect(got.map((r) => JSON.parse(r['event'] as string))).toEqual(events.map((e) => JSON.parse(recordedJson(e))));
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
