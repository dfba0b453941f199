import fc from 'fast-check';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizePath, resolvePath } from './paths.js';

describe('path normalisation', () => {
  it('resolves .. and . and duplicate slashes', () => {
    expect(normalizePath('/etc/../etc/shadow')).toBe('/etc/shadow');
    expect(normalizePath('//etc/./shadow')).toBe('/etc/shadow');
    expect(normalizePath('/../../etc/shadow')).toBe('/etc/shadow');
    expect(normalizePath('/tmp/x/')).toBe('/tmp/x');
    expect(resolvePath('/home/u', '../../etc/shadow')).toBe('/etc/shadow');
    expect(resolvePath(undefined, 'rel')).toBeUndefined();
    expect(resolvePath(undefined, '/abs/./p')).toBe('/abs/p');
  });

  it('one name under a directory resolves as the general join would', () => {
    const seg = fc.constantFrom('a', 'b', '..', '.', '', 'etc', '.hidden', '...', ' x', 'a.b');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 6 }), seg, (parts, name) => {
        for (const base of ['/' + parts.join('/'), normalizePath('/' + parts.join('/'))]) {
          expect(resolvePath(base, name)).toBe(normalizePath(posix.join(base, name)));
        }
      }),
    );
  });

  it('is idempotent', () => {
    const seg = fc.constantFrom('a', 'b', '..', '.', '', 'etc', 'shadow', '...', ' x');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 12 }), fc.boolean(), (parts, abs) => {
        const p = (abs ? '/' : '') + parts.join('/');
        const once = normalizePath(p);
        expect(normalizePath(once)).toBe(once);
        if (abs && p !== '') expect(once.startsWith('/')).toBe(true);
        if (abs && p !== '') expect(once.split('/')).not.toContain('..');
      }),
    );
  });
});
