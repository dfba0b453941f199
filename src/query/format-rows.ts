/**
 * Query results for people (an aligned table) and for scripts (JSON Lines,
 * CSV). Values arrive as DuckDB renders them to JSON; 64-bit integers come
 * as strings and become numbers where that is exact.
 */
export type Row = Record<string, unknown>;

const INT64 = /^(BIGINT|UBIGINT|HUGEINT|UHUGEINT)$/;

/** Numbers for 64-bit integer columns that fit a double exactly. */
export function normaliseRows(rows: Row[], columns: string[], types: string[]): Row[] {
  const intCols = columns.filter((_, i) => INT64.test(types[i] ?? ''));
  if (intCols.length === 0) return rows;
  for (const r of rows) {
    for (const c of intCols) {
      const v = r[c];
      if (typeof v === 'string') {
        const n = Number(v);
        if (Number.isSafeInteger(n)) r[c] = n;
      }
    }
  }
  return rows;
}

const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function toJsonLines(rows: Row[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** RFC 4180: quote fields holding a comma, quote, CR or LF; double inner quotes. */
export function toCsv(rows: Row[], columns: string[]): string {
  const q = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [columns.map(q).join(',')];
  for (const r of rows) lines.push(columns.map((c) => q(cell(r[c]))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** An aligned text table; cells longer than `maxWidth` are cut with an ellipsis. */
export function toTable(rows: Row[], columns: string[], maxWidth = 60): string {
  const clip = (s: string): string => {
    const one = s.replace(/[\r\n\t]/g, ' ');
    return one.length > maxWidth ? `${one.slice(0, maxWidth - 1)}…` : one;
  };
  const body = rows.map((r) => columns.map((c) => clip(cell(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...body.map((b) => b[i]!.length)));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === 'number'));
  const line = (cells: string[]): string => cells.map((s, i) => (numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(columns), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)];
  out.push(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
  return `${out.join('\n')}\n`;
}
