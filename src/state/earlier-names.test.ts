import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EarlierNames } from './earlier-names.js';

describe('EarlierNames: a file is known by its first name through links and renames', () => {
  it('a hard link and a rename name the file they were made from; an unlink ends a name', () => {
    const n = new EarlierNames();
    expect(n.firstNameOf('/tmp/notes.txt')).toBeUndefined();
    n.linked('/home/a/.ssh/id_ed25519', '/tmp/notes.txt');
    expect(n.firstNameOf('/tmp/notes.txt')).toBe('/home/a/.ssh/id_ed25519');
    // renamed on, linked on: still the key
    n.renamed('/tmp/notes.txt', '/tmp/draft.txt');
    expect(n.firstNameOf('/tmp/notes.txt')).toBeUndefined();
    expect(n.firstNameOf('/tmp/draft.txt')).toBe('/home/a/.ssh/id_ed25519');
    n.linked('/tmp/draft.txt', '/var/tmp/x');
    expect(n.firstNameOf('/var/tmp/x')).toBe('/home/a/.ssh/id_ed25519');
    // the first name itself is no alias
    expect(n.firstNameOf('/home/a/.ssh/id_ed25519')).toBeUndefined();
    n.unlinked('/var/tmp/x');
    expect(n.firstNameOf('/var/tmp/x')).toBeUndefined();
    // renamed back to its first name: no alias left
    n.renamed('/tmp/draft.txt', '/home/a/.ssh/id_ed25519');
    expect(n.firstNameOf('/home/a/.ssh/id_ed25519')).toBeUndefined();
    expect(n.size).toBe(0);
  });

  it('a renamed directory renames what is under it, and what was linked into it before it moved', () => {
    const n = new EarlierNames();
    n.linked('/etc/shadow', '/home/a/.ssh/copy');
    n.renamed('/home/a/.ssh', '/tmp/x');
    expect(n.firstNameOf('/tmp/x/id_ed25519')).toBe('/home/a/.ssh/id_ed25519');
    expect(n.firstNameOf('/tmp/x/copy')).toBe('/etc/shadow');
    expect(n.firstNameOf('/tmp/x')).toBe('/home/a/.ssh');
    expect(n.firstNameOf('/tmp/xy/id_ed25519')).toBeUndefined();
    // moved again, deeper
    n.renamed('/tmp/x', '/tmp/y/z');
    expect(n.firstNameOf('/tmp/y/z/id_ed25519')).toBe('/home/a/.ssh/id_ed25519');
    // a file renamed out of the moved directory keeps its first name
    n.renamed('/tmp/y/z/id_ed25519', '/tmp/plain');
    expect(n.firstNameOf('/tmp/plain')).toBe('/home/a/.ssh/id_ed25519');
    // a topmost directory renamed: everything under it, at any depth
    n.renamed('/srv', '/data');
    expect(n.firstNameOf('/data/a/b/.ssh/id_rsa')).toBe('/srv/a/b/.ssh/id_rsa');
    expect(n.firstNameOf('/data')).toBe('/srv');
    expect(n.firstNameOf('/database/x')).toBeUndefined();
    // names gone take their directories' entries' count with them: nothing under /tmp/y is named any more
    n.unlinked('/tmp/y/z');
    expect(n.firstNameOf('/tmp/y/z/id_ed25519')).toBeUndefined();
  });

  it('a name that later stands for another file does not redirect the names taken from it before', () => {
    const n = new EarlierNames();
    n.linked('/k/secret', '/tmp/a');
    // /k/secret is replaced by another file renamed onto it
    n.renamed('/tmp/other', '/k/secret');
    expect(n.firstNameOf('/tmp/a')).toBe('/k/secret');
    expect(n.firstNameOf('/k/secret')).toBe('/tmp/other');
  });

  // a model: a flat directory of names, each naming a file (inode) that was created under a first name
  const NAMES = ['/d/a', '/d/b', '/d/c', '/d/e', '/d/f'];
  type Op = { op: 'link' | 'rename'; from: number; to: number } | { op: 'unlink' | 'create'; at: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constantFrom('link' as const, 'rename' as const), from: fc.nat(NAMES.length - 1), to: fc.nat(NAMES.length - 1) }),
    fc.record({ op: fc.constantFrom('unlink' as const, 'create' as const), at: fc.nat(NAMES.length - 1) }),
  );

  it('agrees with a model filesystem on random links, renames, unlinks and creations: every name resolves to its file\'s first name', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const n = new EarlierNames();
        const fileAt = new Map<string, number>();
        const firstName: string[] = [];
        const create = (name: string): void => {
          fileAt.set(name, firstName.length);
          firstName.push(name);
        };
        create(NAMES[0]!);
        create(NAMES[1]!);
        for (const o of ops) {
          if (o.op === 'create' || o.op === 'unlink') {
            const name = NAMES[o.at]!;
            if (o.op === 'create' && !fileAt.has(name)) create(name); // an open with O_CREAT: the state sees no link or rename
            if (o.op === 'unlink' && fileAt.has(name)) {
              fileAt.delete(name);
              n.unlinked(name);
            }
            continue;
          }
          const from = NAMES[o.from]!;
          const to = NAMES[o.to]!;
          const file = fileAt.get(from);
          if (file === undefined || from === to) continue; // fails in the kernel (or does nothing): no event to follow
          if (o.op === 'link') {
            if (fileAt.has(to)) continue; // EEXIST
            fileAt.set(to, file);
            n.linked(from, to);
          } else {
            fileAt.set(to, file);
            fileAt.delete(from);
            n.renamed(from, to);
          }
        }
        for (const [name, file] of fileAt) expect(n.firstNameOf(name) ?? name).toBe(firstName[file]);
      }),
      { numRuns: 2000 },
    );
  });
  it('looks up as if it walked every directory of every name (random names at any depth): the shortcut never misses an entry', () => {
    /** The same table with no shortcut: every directory of a name looked up. */
    class Walk {
      readonly names = new Map<string, string>();
      first(p: string): string | undefined {
        const own = this.names.get(p);
        if (own !== undefined) return own === p ? undefined : own;
        for (let cut = p.lastIndexOf('/'); cut > 0; cut = p.lastIndexOf('/', cut - 1)) {
          const dir = this.names.get(p.slice(0, cut));
          if (dir === undefined) continue;
          const under = dir + p.slice(cut);
          const f = this.names.get(under) ?? under;
          return f === p ? undefined : f;
        }
        return undefined;
      }
      linked(a: string, b: string): void {
        this.names.set(b, this.first(a) ?? a);
      }
      renamed(a: string, b: string): void {
        const f = this.first(a) ?? a;
        this.names.delete(a);
        if (f === b) this.names.delete(b);
        else this.names.set(b, f);
      }
    }
    const path = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 }).map((c) => `/${c.join('/')}`);
    const ops = fc.array(fc.tuple(fc.constantFrom('link', 'rename', 'unlink'), path, path), { maxLength: 30 });
    fc.assert(
      fc.property(ops, fc.array(path, { minLength: 1, maxLength: 20 }), (os, queries) => {
        const n = new EarlierNames();
        const w = new Walk();
        for (const [op, a, b] of os) {
          if (op === 'link') (n.linked(a, b), w.linked(a, b));
          else if (op === 'rename') (n.renamed(a, b), w.renamed(a, b));
          else (n.unlinked(a), w.names.delete(a));
        }
        for (const q of queries) expect(n.firstNameOf(q)).toBe(w.first(q));
      }),
      { numRuns: 3000 },
    );
  });
});
