import type { ObjectView } from '../schema/event.js';

/** How a chain hop names what an fd pointed at: a path, `socket ADDR:PORT`, `unix PATH`, or `TYPE ID`. */
export function describeObject(v: ObjectView | undefined): string {
  if (v === undefined) return '?';
  // a file known under an earlier name (linked or renamed since): both, the first one as its first name
  if (v.path !== undefined) return v.aka !== undefined ? `${v.path} (first named ${v.aka})` : v.path;
  if (v.type === 'socket') {
    const p = v.peer;
    if (p?.addr !== undefined) return `socket ${p.addr}:${p.port ?? 0}`;
    if (p?.path !== undefined) return `unix ${p.path}`;
    if (v.local?.path !== undefined) return `unix ${v.local.path}`;
    return `socket ${v.id}`;
  }
  return `${v.type} ${v.id}`;
}
