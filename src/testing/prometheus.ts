/** Reading a Prometheus endpoint in tests. */

/** The exposition text as name{labels} → value; every line a comment or a sample (the text format). */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|nan|[+-]inf)$/i.exec(line); // prom-client writes NaN as Nan: Prometheus parses floats case-blind
    if (m === null) throw new Error(`not a sample line of the text format: ${line}`);
    out.set(m![1]!, Number(m![2]));
  }
  return out;
}

/** GET http://HOST:PORT/PATH. */
export async function scrape(port: number, path = '/metrics', host = '127.0.0.1'): Promise<{ status: number; type: string | null; body: string }> {
  const r = await fetch(`http://${host}:${port}${path}`);
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
}
