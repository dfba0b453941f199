import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { Observable } from 'rxjs';
import { newImportStats, SysdigMapper, type ImportStats } from '../decode/sysdig-mapper.js';
import { parseSysdigLine, type SysdigRecord } from '../decode/sysdig-line.js';
import type { Event } from '../schema/event.js';
import { TRACE_FORMAT, TRACE_VERSION, type TraceHeader } from '../schema/trace-header.js';
import { fileSha256, importFormatOf, lidDsLabels, recordingLines as lines, SYSDIG_FORMAT, type ImportFormat } from '../source/sysdig-source.js';
import type { TraceReadStats } from '../source/trace-reader.js';
import { ChainwatchError } from '../util/errors.js';
import { VERSION } from '../util/version.js';

/**
 * Recordings no one here wrote (sysdig captures, sysdig text, LID-DS zips)
 * as chainwatch traces: a header made from the recording, and its records
 * mapped onto canonical events (decode/sysdig-mapper.ts).
 */

/** The first event line's timestamp (the trace epoch). */
function firstRecord(format: ImportFormat, file: string): Promise<SysdigRecord | undefined> {
  return new Promise((resolve, reject) => {
    let first: SysdigRecord | undefined;
    lines(
      format,
      file,
      (l) => {
        const r = parseSysdigLine(l);
        if (typeof r === 'string') return true;
        first = r;
        return false;
      },
      (err) => (err && first === undefined ? reject(err) : resolve(first)),
    );
  });
}

/** A chainwatch header for an imported recording: its epoch is the first event; LID-DS labels become annotations. */
export async function importHeader(file: string): Promise<TraceHeader> {
  const format = importFormatOf(file)!;
  try {
    statSync(file);
  } catch (e) {
    throw new ChainwatchError('IO', `cannot read recording: ${(e as Error).message}`, { where: file, fix: 'check the path' });
  }
  const first = await firstRecord(format, file);
  if (first === undefined) throw new ChainwatchError('TRACE_INVALID', 'no sysdig event line in it', { where: file, fix: `expected lines like "${SYSDIG_FORMAT}"` });
  const labels = format === 'lid-ds' ? await lidDsLabels(file) : undefined;
  const epoch = first.ts;
  const annotations: NonNullable<TraceHeader['annotations']> = [];
  const time = labels?.time as { exploit?: { absolute: number; name?: string; source?: string }[] } | undefined;
  for (const x of time?.exploit ?? []) {
    const ns = BigInt(Math.round(x.absolute * 1e6)) * 1000n - epoch;
    annotations.push({ ts: Number(ns > 0n ? ns : 0n), label: `exploit${x.name ? `: ${x.name}` : ''}`, ...(x.source && { source: x.source }) });
  }
  return {
    type: 'header',
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    host: basename(file),
    kernel: 'unknown',
    arch: 'x64',
    chainwatch_version: VERSION,
    start_time: new Date(Number(epoch / 1_000_000n)).toISOString(),
    wall_epoch_ns: epoch.toString(),
    mono_epoch_ns: '0',
    scope: { mode: 'import' },
    probes: [],
    policy_sha256: null,
    imported_from: { format, file: basename(file), sha256: fileSha256(file), ...(labels && { labels }) },
    ...(annotations.length > 0 && { annotations }),
  };
}

/** The recording's events, mapped onto the canonical model (what cannot be is counted in `importStats`). */
export function readImport(file: string, header: TraceHeader, stats: TraceReadStats, importStats: ImportStats = newImportStats()): Observable<Event> {
  const format = importFormatOf(file)!;
  return new Observable<Event>((sub) => {
    try {
      stats.fileBytes = statSync(file).size;
    } catch {
      // reported by lines()
    }
    const mapper = new SysdigMapper(BigInt(header.wall_epoch_ns), importStats);
    const emit = (ev: Event): void => {
      stats.events++;
      sub.next(ev);
    };
    let line = 0;
    const stop = lines(
      format,
      file,
      (l) => {
        line++;
        stats.lines = line;
        stats.fileBytesRead += l.length + 1;
        const r = parseSysdigLine(l);
        if (typeof r === 'string') {
          if (l.trim().length > 0) {
            importStats.malformed++;
            if (importStats.malformedLines.length < 10) importStats.malformedLines.push(line);
          }
          return true;
        }
        mapper.map(r, emit);
        return true;
      },
      (err) => (err ? sub.error(err) : sub.complete()),
    );
    return stop;
  });
}

export { importFormatOf, newImportStats, type ImportFormat, type ImportStats };
