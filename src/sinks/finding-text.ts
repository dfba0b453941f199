import type { ChainHop, Finding, ProcessRef } from '../schema/finding.js';
import { commandLine } from './command-line.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * Findings as text for a person at a terminal (`--findings-format text`, the
 * default when findings go to a terminal): a headline, the summary, the
 * process with its command line and who started it, the chain, the counters.
 * A finding reported again (its counters grew) is one `update` line.
 *
 * Every string that came from the watched system (paths, command lines,
 * names) is shown with control characters escaped (`\x1b`, `\n`): a file name
 * or an argument cannot move the cursor, recolour or rewrite the terminal,
 * or forge a line of output.
 */
export interface FindingTextOptions {
  /** Colour the severity (ANSI). */
  color?: boolean;
}

const SEVERITY_COLOR: Record<Finding['severity'], string> = { info: '2', low: '36', medium: '33', high: '31', critical: '1;97;41' };

/**
 * `s` with C0, DEL and C1 control characters written as escapes, so it
 * prints on one line and cannot drive the terminal; bidirectional overrides
 * and line/paragraph separators too, so it cannot reorder what is shown.
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\\\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

/** An indented detail line under a label column. */
const field = (label: string, value: string): string => `  ${label.padEnd(11)}${value}`;

const bytes = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

function proc(p: ProcessRef): string {
  const cmd = commandLine(p.args, p.args_truncated);
  const what = cmd === undefined || cmd === '' ? p.comm : cmd;
  return `${printable(what)}  [pid ${p.pid}${p.exe !== undefined ? `, ${printable(p.exe)}` : ''}]`;
}

function hop(h: ChainHop): string {
  return `${printable(h.comm)} ${printable(h.syscall)} ${printable(h.object)}${h.bytes > 0 ? ` (${bytes(h.bytes)})` : ''}`;
}

/** Findings remembered as shown (the finding builder keeps as many chains open for updates). */
const MAX_SHOWN = 20_000;

export class FindingText {
  /** Findings already shown in full, oldest first: a later report of one is an update line (of one forgotten, the full text again). */
  private readonly shown = new Set<string>();
  private readonly shownOrder = new OldestFirst(this.shown);

  constructor(private readonly o: FindingTextOptions = {}) {}

  private severity(s: Finding['severity']): string {
    const word = s.toUpperCase().padEnd(8);
    return this.o.color === true ? `\x1b[${SEVERITY_COLOR[s]}m${word.trimEnd()}\x1b[0m${' '.repeat(8 - s.length)}` : word;
  }

  /** The finding as lines of text, each ending in a newline. */
  render(f: Finding): string {
    const head = `${f.time} ${this.severity(f.severity)} ${printable(f.rule)}${f.task !== '' ? `  task ${printable(f.task)}` : ''}`;
    if (this.shown.has(f.id)) {
      return `${head}  update ${f.id}: ${f.sends} send(s), ${bytes(f.bytes_sent)} sent${f.coverage.lost_events > 0 ? `, ${f.coverage.lost_events} kernel events lost` : ''}\n`;
    }
    this.shown.add(f.id);
    if (this.shown.size > MAX_SHOWN) this.shownOrder.evict();
    const lines = [head, `  ${printable(f.summary)}`];
    if (f.process.comm !== 'chainwatch' || f.process.args !== undefined) {
      lines.push(field('process', proc(f.process)));
      f.process.ancestors?.forEach((a, i) => lines.push(field(i === 0 ? 'started by' : '', proc(a))));
    }
    if (f.policy !== undefined) {
      const cap = f.policy.capability !== undefined ? `, capability ${printable(f.policy.capability)}` : '';
      lines.push(field('policy', `intent ${printable(f.policy.intent)}${cap}: ${printable(f.policy.violation)}${f.action !== undefined && f.action !== 'alert' ? ` [${f.action}]` : ''}`));
    }
    if (f.chain.length > 0) lines.push(field('chain', f.chain.map(hop).join(' → ')));
    const counters = [`id ${f.id}`];
    if (f.bytes_read > 0 || f.bytes_sent > 0) counters.push(`read ${bytes(f.bytes_read)}`, `sent ${bytes(f.bytes_sent)} in ${f.sends} send(s)`);
    counters.push(f.coverage.lost_events > 0 ? `WARNING: ${f.coverage.lost_events} kernel events lost during it` : 'no events lost');
    lines.push(`  ${counters.join(' · ')}`);
    return `${lines.join('\n')}\n`;
  }
}

/** A writer's `render` for findings as text (`JsonlWriterOptions.render`). */
export function findingTextLines(o: FindingTextOptions): (f: Finding) => string {
  const t = new FindingText(o);
  return (f) => t.render(f);
}
