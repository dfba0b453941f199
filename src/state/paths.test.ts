import fc from 'fast-check';
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
