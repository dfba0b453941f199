import { posix } from 'node:path';
import { inDir, isOneName } from '../util/path-name.js';

/**
 * Lexical path normalisation: `/etc/../etc/shadow` is `/etc/shadow`, `//x`
 * is `/x`, trailing slashes go. Symlinks are not followed here (the kernel
 * object identity `MAJOR:MINOR:INODE` is what survives symlink games).
 * Idempotent: normalizePath(normalizePath(p)) === normalizePath(p).
 */
export function normalizePath(p: string): string {
  if (p === '') return p;
  if (isNormal(p)) return p;
  const n = posix.normalize(p);
  if (n.length > 1 && n.endsWith('/')) return n.slice(0, -1);
  return n.startsWith('//') ? n.slice(1) : n;
}

/** Already normal: absolute, no '.', '..' or empty segments, no trailing slash. */
function isNormal(p: string): boolean {
  return p.charCodeAt(0) === 47 && !p.includes('/.') && !p.includes('//') && (p.length === 1 || !p.endsWith('/'));
}

/** Resolves `p` against a base directory; returns undefined when p is relative and base unknown. */
export function resolvePath(base: string | undefined, p: string): string | undefined {
  if (p.startsWith('/')) return normalizePath(p);
  if (base === undefined || !base.startsWith('/')) return undefined;
  // one name under a normal directory (a tree walker's openat(dirfd, "name")): nothing to normalise
  if (isOneName(p) && isNormal(base)) return inDir(base, p);
  return normalizePath(posix.join(base, p));
}
