import { printfLayouts, type PrintfLayout } from '../src/decode/printf-layouts.js';
import { renderProbe } from '../src/source/probe-catalog.js';
import { encodeFrame } from '../src/testing/probe-records.js';
import { PROBE_STRLEN } from '../src/util/probe-format.js';

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

  /** The frame of one bpftrace JSON line of a printf record (the bytes as `encodeFrame` lays them out). */
  frame(jsonLine: string): Buffer {
    const data = (JSON.parse(jsonLine) as { data: string }).data.replace(/\n$/, '');
    const [kind, ...fields] = data.split('\t');
    const layout = this.byKind.get(kind!)?.find((l) => fits(l, fields));
    if (layout === undefined) throw new Error(`no printf of the probe prints ${JSON.stringify(data)}`);
    const nums = layout.nums.flatMap((f, i) => (f.as === 'const' ? [] : [BigInt(fields[i]!)]));
    const text = fields.slice(layout.nums.length).join('\t');
    const str = layout.str?.as === 'ntop' ? { family: 2 as const, addr: Uint8Array.from([...text.split('.').map(Number), ...new Array<number>(12).fill(0)]) } : layout.str === undefined ? undefined : text;
    return encodeFrame(layout, { nums, str });
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
