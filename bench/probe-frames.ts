import { printfLayouts, type PrintfLayout } from '../src/decode/printf-layouts.js';
import { renderProbe } from '../src/source/probe-catalog.js';
import { FRAME, FRAME_HEAD, PROBE_STRLEN } from '../src/util/probe-format.js';

/**
 * The benchmark workload's records as the probe hands them over with binary
 * records on (probes/binary-records.c): each bpftrace JSON line turned into
 * the frame of a printf of the real rendered probe that prints that record.
 * Done outside the timed sections.
 */
export class FrameEncoder {
  private readonly byKind = new Map<string, PrintfLayout[]>();
  readonly layouts: PrintfLayout[];

  constructor() {
    this.layouts = printfLayouts(renderProbe({ mode: 'host' }, []).script, PROBE_STRLEN);
    for (const l of this.layouts) {
      let list = this.byKind.get(l.kind);
      if (list === undefined) this.byKind.set(l.kind, (list = []));
      list.push(l);
    }
  }

  /** The frame of one bpftrace JSON line of a printf record. */
  frame(jsonLine: string): Buffer {
    const data = (JSON.parse(jsonLine) as { data: string }).data.replace(/\n$/, '');
    const [kind, ...fields] = data.split('\t');
    const layout = this.byKind.get(kind!)?.find((l) => fits(l, fields));
    if (layout === undefined) throw new Error(`no printf of the probe prints ${JSON.stringify(data)}`);
    const rec = Buffer.alloc(layout.size + 4);
    rec.writeBigUInt64LE(BigInt(layout.id), 0);
    layout.nums.forEach((f, i) => {
      if (f.as !== 'const') rec.writeBigUInt64LE(BigInt.asUintN(64, BigInt(fields[i]!)), f.at);
    });
    const s = layout.str;
    const text = fields.slice(layout.nums.length).join('\t');
    if (s?.as === 'str') Buffer.from(text, 'utf8').copy(rec, s.at, 0, s.size - 1);
    else if (s?.as === 'ntop') {
      rec.writeBigUInt64LE(2n, s.at);
      text.split('.').forEach((b, i) => (rec[s.at + 8 + i] = Number(b)));
    }
    const head = Buffer.alloc(FRAME_HEAD);
    head[0] = FRAME;
    head.writeUInt32LE(rec.length, 1);
    return Buffer.concat([head, rec]);
  }
}

function fits(l: PrintfLayout, fields: string[]): boolean {
  if (!l.nums.every((f, i) => f.as !== 'const' || String(f.value) === fields[i])) return false;
  const text = fields.slice(l.nums.length).join('\t');
  const s = l.str;
  if (s === undefined) return fields.length === l.nums.length;
  if (s.as === 'ntop') return /^\d+\.\d+\.\d+\.\d+$/.test(text);
  if (s.as === 'str') return s.prefix === '' && s.suffix === '';
  return false;
}
