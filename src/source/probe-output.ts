import { FRAME, FRAME_ECHOED, FRAME_HEAD } from '../util/probe-format.js';

/**
 * bpftrace's stdout as it is read: runs of whole JSON lines (a string each)
 * and runs of whole binary record frames (a Buffer each, see
 * probes/binary-records.c), in the order bpftrace wrote them.
 */
export type ProbeOutputPart = string | Buffer;

const NEWLINE = 10;

const isTag = (b: number | undefined): boolean => b === FRAME || b === FRAME_ECHOED;

/**
 * Cuts bpftrace's stdout into whole lines and whole frames, one read at a
 * time: a line or frame cut between two reads is held until it is whole.
 * A frame starts where a line would (after a newline, or after a frame) with
 * a byte no JSON line starts with; a line runs to its newline whatever bytes
 * it holds. Without frames (bpftrace formatting every record) each read
 * gives one string, as node:readline would give its lines, without a string
 * per line.
 */
export class ProbeOutput {
  private carry: Buffer | undefined;

  /** The whole lines and frames this read completes, in order (none when it completes nothing). */
  push(chunk: Buffer): ProbeOutputPart[] {
    const buf = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    this.carry = undefined;
    const parts: ProbeOutputPart[] = [];
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      if (isTag(buf[pos])) {
        const start = pos;
        while (isTag(buf[pos]) && pos + FRAME_HEAD <= n) {
          const end = pos + FRAME_HEAD + buf.readUInt32LE(pos + 1);
          if (end > n) break;
          pos = end;
        }
        if (pos > start) parts.push(buf.subarray(start, pos));
        // a frame not yet whole
        if (isTag(buf[pos])) break;
        continue;
      }
      // text: up to the first frame that starts a line, else up to the last newline
      let end = -1;
      let from = pos;
      for (;;) {
        const a = buf.indexOf(FRAME, from);
        const b = buf.indexOf(FRAME_ECHOED, from);
        const t = a < 0 ? b : b < 0 ? a : Math.min(a, b);
        if (t < 0) break;
        if (buf[t - 1] === NEWLINE) {
          end = t;
          break;
        }
        from = t + 1;
      }
      if (end < 0) end = buf.lastIndexOf(NEWLINE) + 1;
      if (end <= pos) break;
      parts.push(buf.toString('utf8', pos, end));
      pos = end;
    }
    if (pos < n) this.carry = Buffer.from(buf.subarray(pos));
    return parts;
  }

  /** At the end of the stream: what was never completed (a last line without its newline, or a cut frame, as text). */
  end(): ProbeOutputPart[] {
    const rest = this.carry;
    this.carry = undefined;
    if (rest === undefined) return [];
    return [isTag(rest[0]) ? rest : rest.toString('utf8')];
  }
}

/** The records in some output (a line each, a frame each; an echoed frame's record is its line). */
export function countRecords(parts: readonly ProbeOutputPart[]): number {
  let n = 0;
  for (const p of parts) {
    if (typeof p === 'string') {
      for (let i = p.indexOf('\n'); i >= 0; i = p.indexOf('\n', i + 1)) n++;
      continue;
    }
    for (let at = 0; at + FRAME_HEAD <= p.length; at += FRAME_HEAD + p.readUInt32LE(at + 1)) if (p[at] === FRAME) n++;
  }
  return n;
}
