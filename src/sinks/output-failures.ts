import { ChainwatchError } from '../util/errors.js';
import type { JsonlWriter } from './jsonl-writer.js';
import type { TraceRecorder } from './trace-recorder.js';

/** An output file that could not be written in full (a full disk): what, why, and how many lines are not in it. */
export interface OutputFailure {
  file: string;
  error: string;
  /** Lines (findings, events) or trace events accepted but not written. */
  unwritten: number;
}

/** The outputs of a run that failed to write something, after they were closed. */
export function outputFailures(writers: readonly (JsonlWriter | TraceRecorder | undefined)[]): OutputFailure[] {
  const out: OutputFailure[] = [];
  for (const w of writers) {
    if (w === undefined) continue;
    if ('lastFailure' in w) {
      if (w.lastFailure !== undefined) out.push({ file: w.target, error: w.lastFailure, unwritten: w.dropped });
    } else if (w.failed !== undefined && !(w.target === '-' && w.failed === 'EPIPE')) {
      out.push({ file: w.target, error: w.failed, unwritten: w.unwritten });
    }
  }
  return out;
}

/** Each output's state for the metrics: lines not written so far, and whether writing fails now. */
export function outputReadings(writers: readonly (JsonlWriter | undefined)[]): { file: string; unwritten: number; failing: boolean }[] {
  return writers.filter((w) => w !== undefined && w.target !== '-').map((w) => ({ file: w!.target, unwritten: w!.unwritten, failing: w!.failed !== undefined }));
}

/** Exit 6 with one line naming each file, after the run's own report: an output that lost lines is never a silent success. */
export function failOnOutputFailures(failures: readonly OutputFailure[]): void {
  if (failures.length === 0) return;
  const what = failures.map((f) => `${f.file} (${f.error}; ${f.unwritten} lines not written)`).join(', ');
  throw new ChainwatchError('OUTPUT_FAILED', `could not write ${what}`, { fix: 'free space on that disk or write to another file; the audit log records when each output failed' });
}
