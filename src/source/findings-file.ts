import { readFileSync } from 'node:fs';
import { Finding } from '../schema/finding.js';
import { ChainwatchError, formatIssues } from '../util/errors.js';

const FIX = 'one finding per line, as chainwatch writes them (--findings FILE)';

/**
 * The findings of a JSON Lines file (what `watch`, `replay` or `serve`
 * printed with `--findings FILE`), every line checked: a line that is not
 * JSON or not a finding is an error naming FILE:LINE, and so is a file that
 * cannot be read. Blank lines are skipped.
 */
export function readFindingsFile(file: string): Finding[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ChainwatchError('USAGE', `cannot read the findings file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { where: file, fix: 'name a readable file of findings (JSON Lines)' });
  }
  const out: Finding[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new ChainwatchError('TRACE_INVALID', `not JSON: ${(e as Error).message}`, { where: `${file}:${i + 1}`, fix: FIX });
    }
    const f = Finding.safeParse(raw);
    if (!f.success) throw new ChainwatchError('TRACE_INVALID', `not a finding: ${formatIssues(f.error.issues)}`, { where: `${file}:${i + 1}`, fix: FIX });
    out.push(f.data);
  });
  return out;
}
