import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ChainwatchError } from '../util/errors.js';

/**
 * Reads a YAML file and validates it with a zod schema. Every problem is
 * reported as `FILE:LINE:COL: path.to.field: what was wrong (expected …)`,
 * with the position of the offending node in the file.
 */
export function loadYamlFile<T extends z.ZodType>(file: string, schema: T, example?: string): z.infer<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ChainwatchError('RULE_INVALID', `cannot read ${file}: ${(e as Error).message}`, { where: file });
  }
  return parseYamlText(text, file, schema, example);
}

export function parseYamlText<T extends z.ZodType>(text: string, file: string, schema: T, example?: string): z.infer<T> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number): string => {
    const { line, col } = lc.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ChainwatchError('RULE_INVALID', `${pos(e.pos[0])}: not valid YAML: ${e.message.split('\n')[0]}`, {
      where: file,
      fix: 'fix the YAML syntax at that line',
    });
  }
  const data: unknown = doc.toJS();
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const lines = flattenIssues(r.error.issues).map((i) => {
    // an unknown key is pointed at itself, not at the object that holds it
    const at = i.code === 'unrecognized_keys' && i.keys.length > 0 ? [...i.path, i.keys[0]!] : i.path;
    const node = nodeAt(doc.contents as YamlNode | null, at);
    const where = node?.range ? pos(node.range[0]) : `${file}:1:1`;
    const field = i.path.length ? i.path.join('.') : '(top level)';
    return `${where}: ${field}: ${i.message}`;
  });
  throw new ChainwatchError('RULE_INVALID', lines.join('\n'), {
    where: file,
    issues: r.error.issues,
    ...(example !== undefined && { fix: `expected a file shaped like:\n${example}` }),
  });
}

/**
 * A failed union says only "Invalid input"; report instead the issues of the
 * alternative that got furthest (the one whose first issue is deepest), with
 * the union's own path in front.
 */
function flattenIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((i) => {
    // a bad record key: say what the key should look like
    if (i.code === 'invalid_key' && i.issues.length > 0) return i.issues.map((k) => ({ ...k, path: i.path }) as z.core.$ZodIssue);
    if (i.code !== 'invalid_union' || i.errors.length === 0) return [i];
    const best = [...i.errors].sort((a, b) => depth(b) - depth(a) || a.length - b.length)[0]!;
    if (best.length === 0) return [i];
    return flattenIssues(best.map((e) => ({ ...e, path: [...i.path, ...e.path] }) as z.core.$ZodIssue));
  });
}

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}

/** The deepest YAML node along a zod issue path (so the line points at the culprit, or its nearest parent). */
function nodeAt(root: YamlNode | null, path: readonly PropertyKey[]): YamlNode | null {
  let node: YamlNode | null = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (pair === undefined) return node;
      node = (pair.value as YamlNode | null) ?? (pair.key as YamlNode);
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as YamlNode | undefined;
      if (item === undefined) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}
