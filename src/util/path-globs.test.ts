import fc from 'fast-check';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { pathGlobMatcher, requiredLiteral } from './path-globs.js';

const globSegment = fc.constantFrom('**', '*', 'a', 'b', '.ssh', 'id_*', '*.pem', 'x?', 'a*b', '.env', 'ca-bundle*.pem', '{a,b}', '[ab]', 'a.b', 'etc', 'shadow');
const pathSegment = fc.constantFrom('a', 'b', '.ssh', 'id_rsa', 'id_', 'x.pem', '.pem', '.env', 'xy', 'ab', 'a.b', 'aXb', '', 'ca-bundle1.pem', 'etc', 'shadow', '..', '.');
const glob = fc
  .tuple(fc.constantFrom('/', '**/'), fc.array(globSegment, { minLength: 1, maxLength: 5 }), fc.constantFrom('', '/', '/**'))
  .map(([lead, segs, tail]) => lead + segs.join('/') + tail);
const path = fc
  .tuple(fc.constantFrom('/', ''), fc.array(pathSegment, { minLength: 0, maxLength: 6 }), fc.constantFrom('', '/'))
  .map(([lead, segs, tail]) => lead + segs.join('/') + tail);

describe('path glob matcher', () => {
  it('answers as picomatch does, for any glob list and path', () => {
    fc.assert(
      fc.property(fc.array(glob, { minLength: 1, maxLength: 4 }), fc.array(path, { minLength: 1, maxLength: 8 }), (globs, paths) => {
        const mine = pathGlobMatcher(globs);
        const theirs = picomatch(globs, { dot: true });
        for (const p of paths) expect(mine(p), `${JSON.stringify(globs)} on ${JSON.stringify(p)}`).toBe(theirs(p));
      }),
      { numRuns: 3000 },
    );
  });

  it('guards plain globs by their longest literal and leaves the others unguarded', () => {
    expect(requiredLiteral('**/.kube/config')).toBe('.kube/config');
    expect(requiredLiteral('/proc/*/environ')).toBe('/environ');
    expect(requiredLiteral('/var/run/secrets/**')).toBe('/var/run/secrets');
    expect(requiredLiteral('**/*.pem')).toBe('.pem');
    expect(requiredLiteral('/home/*/**')).toBe('/home/');
    // braces, classes and extglobs make runs optional or alternative
    expect(requiredLiteral('/etc/{shadow,gshadow}')).toBeUndefined();
    expect(requiredLiteral('/etc/[gs]shadow')).toBeUndefined();
    expect(requiredLiteral('/etc/@(shadow)')).toBeUndefined();
    // one character is no filter
    expect(requiredLiteral('/*')).toBeUndefined();
  });

  it('still matches what the shipped data classes name', () => {
    const m = pathGlobMatcher(['/etc/shadow', '**/.ssh/id_*', '/proc/*/environ', '**/.env', '/var/run/secrets/**']);
    for (const p of ['/etc/shadow', '/root/.ssh/id_ed25519', '/proc/1/environ', '/srv/app/.env', '/var/run/secrets/kubernetes.io/token', '/var/run/secrets']) expect(m(p), p).toBe(true);
    for (const p of ['/etc/shadow.bak', '/root/.ssh/known_hosts', '/proc/1/2/environ', '/srv/app/.envrc', '/var/run/secretsx']) expect(m(p), p).toBe(false);
  });
});
