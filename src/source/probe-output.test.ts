import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME, FRAME_ECHOED } from '../util/probe-format.js';
import { ProbeOutput, type ProbeOutputPart } from './probe-output.js';

/** Cuts `bytes` at the given offsets. */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

function frame(payload: Buffer, echoed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = echoed ? FRAME_ECHOED : FRAME;
  head.writeUInt32LE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** What a list of parts holds, as bytes, parts kept apart only where a line run meets a frame run. */
const asBytes = (parts: ProbeOutputPart[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));

describe('probe output', () => {
  it('gives back the whole text, cut only after newlines, however the bytes are cut into reads', () => {
    const text = fc.array(fc.oneof(fc.string(), fc.constantFrom('\n', 'é', '€', '😀', '{"type": "printf"}', '\t')), { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 12 }), (t, at) => {
        const o = new ProbeOutput();
        const runs: ProbeOutputPart[] = [];
        for (const c of cut(Buffer.from(t, 'utf8'), at)) runs.push(...o.push(c));
        const rest = o.end();
        expect(runs.every((r) => typeof r === 'string' && r.endsWith('\n'))).toBe(true);
        expect(runs.join('') + rest.join('')).toBe(t);
        expect(rest.every((r) => typeof r === 'string' && !r.includes('\n'))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives back lines and whole frames in order, however the bytes are cut; a frame may hold any bytes, newlines and tags included', () => {
    const item = fc.oneof(
      fc.string({ maxLength: 30 }).map((s) => ({ line: `{"type": "printf", "data": ${JSON.stringify(s)}}\n` })),
      fc.tuple(fc.uint8Array({ minLength: 8, maxLength: 60 }), fc.boolean()).map(([b, e]) => ({ frame: frame(Buffer.from(b), e) })),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 12 }), (items, at) => {
        const bytes = Buffer.concat(items.map((i) => ('line' in i ? Buffer.from(i.line) : i.frame)));
        const o = new ProbeOutput();
        const parts: ProbeOutputPart[] = [];
        for (const c of cut(bytes, at)) parts.push(...o.push(c));
        expect(o.end()).toEqual([]);
        expect(asBytes(parts).equals(bytes)).toBe(true);
        // each part is whole: text ends at a newline; a frame run is whole frames
        for (const p of parts) {
          if (typeof p === 'string') expect(p.endsWith('\n')).toBe(true);
          else {
            let i = 0;
            while (i < p.length) i += 5 + p.readUInt32LE(i + 1);
            expect(i).toBe(p.length);
          }
        }
        // and the frames are the items' frames, in order
        const frames: Buffer[] = [];
        for (const p of parts) if (typeof p !== 'string') for (let i = 0; i < p.length; i += 5 + p.readUInt32LE(i + 1)) frames.push(p.subarray(i, i + 5 + p.readUInt32LE(i + 1)));
        expect(frames.map((f) => f.toString('hex'))).toEqual(items.filter((i) => 'frame' in i).map((i) => (i as { frame: Buffer }).frame.toString('hex')));
      }),
      { numRuns: 2000 },
    );
  });

  it('holds a partial line or frame until it is whole; a cut frame at the end is handed on as it is', () => {
    const o = new ProbeOutput();
    expect(o.push(Buffer.from('{"a"'))).toEqual([]);
    expect(o.push(Buffer.from(': 1}\n{"b'))).toEqual(['{"a": 1}\n']);
    expect(o.push(Buffer.from('": 2}\n'))).toEqual(['{"b": 2}\n']);
    const f = frame(Buffer.from('0123456789'));
    expect(o.push(f.subarray(0, 7))).toEqual([]);
    expect(o.push(f.subarray(7))).toEqual([f]);
    expect(o.push(f.subarray(0, 3))).toEqual([]);
    expect(o.end()).toEqual([f.subarray(0, 3)]);
  });
});
