import { OldestFirst } from '../util/oldest-first.js';

/** Names remembered (a rename or link each; beyond this the oldest are forgotten). */
const MAX_NAMES = 16_384;

/**
 * The earlier name of each file a link or rename gave a new one, so a file
 * is judged by what it is, not by what it is called now.
 *
 * A data class (`**\/.ssh/id_*`) or a policy's file capability names paths;
 * a process that gives a secret another name first (`ln ~/.ssh/id_ed25519
 * /tmp/notes.txt`, `mv ~/.ssh /tmp/x`) and opens it by that name would read
 * it as an ordinary file. Each successful `link` and `rename` (absolute
 * paths, from the state) is remembered as new name → the first name of
 * what it names, and an open's path is looked up: its own entry, or the
 * entry of its nearest directory (a renamed directory renames everything
 * under it).
 *
 * A name stops standing for its earlier one when it is unlinked or renamed
 * away; a rename onto it replaces it. What the watch did not see (a link
 * made before it began, or outside it) is not known. Symlinks need none of
 * this: an open follows them, and the state names the real path.
 */
/** `/a/b/c` → `/a/b`; `/a` → `/a`: the part of a name its directories share with it, but for the topmost one. */
function topTwo(p: string): string {
  const second = p.indexOf('/', 1);
  if (second < 0) return p;
  const third = p.indexOf('/', second + 1);
  return third < 0 ? p : p.slice(0, third);
}

/** `/a/b/c` → `/a`. */
function topOne(p: string): string {
  const second = p.indexOf('/', 1);
  return second < 0 ? p : p.slice(0, second);
}

export class EarlierNames {
  private readonly names = new Map<string, string>();
  private readonly order = new OldestFirst(this.names);
  /**
   * How many names there are under each `topTwo`: an open whose path shares
   * that part with no name (nor its topmost directory is one) has no
   * directory with an entry, and is looked up once, not once per directory.
   */
  private readonly tops = new Map<string, number>();

  get size(): number {
    return this.names.size;
  }

  /** `link(existing, added)` succeeded: the added name is another name of whatever `existing` names. */
  linked(existing: string, added: string): void {
    this.set(added, this.firstNameOf(existing) ?? existing);
  }

  /** `rename(from, to)` succeeded: `to` now names what `from` did (a file, or a directory and all under it); `from` names nothing. */
  renamed(from: string, to: string): void {
    const first = this.firstNameOf(from) ?? from;
    this.delete(from);
    if (first === to) this.delete(to);
    else this.set(to, first);
  }

  /** `unlink(name)` or `rmdir(name)` succeeded: the name stands for nothing now. */
  unlinked(name: string): void {
    this.delete(name);
  }

  /**
   * The first name of what `path` names, as far as renames and links seen
   * tell (undefined: none seen, `path` is its only known name).
   *
   * What is stored is always a first name (resolved when the link or rename
   * is seen), never followed further: a name that later came to stand for
   * another file does not redirect the names taken from it before. The one
   * further step is under a renamed directory: `to/x` is `from/x`, which may
   * have been linked or renamed there before the directory moved.
   */
  firstNameOf(path: string): string | undefined {
    if (this.names.size === 0) return undefined;
    const own = this.names.get(path);
    if (own !== undefined) return own === path ? undefined : own;
    // no name shares this one's top directories: none of its directories has an entry
    if (!this.tops.has(topTwo(path)) && !this.tops.has(topOne(path))) return undefined;
    for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
      const dir = this.names.get(path.slice(0, cut));
      if (dir === undefined) continue;
      const under = dir + path.slice(cut);
      const first = this.names.get(under) ?? under;
      return first === path ? undefined : first;
    }
    return undefined;
  }

  private set(name: string, earlier: string): void {
    this.delete(name);
    if (this.names.size >= MAX_NAMES) {
      const gone = this.order.evict();
      if (gone !== undefined) this.untop(gone[0]);
    }
    this.names.set(name, earlier);
    const t = topTwo(name);
    this.tops.set(t, (this.tops.get(t) ?? 0) + 1);
  }

  private delete(name: string): void {
    if (this.names.delete(name)) this.untop(name);
  }

  private untop(name: string): void {
    const t = topTwo(name);
    const n = (this.tops.get(t) ?? 0) - 1;
    if (n > 0) this.tops.set(t, n);
    else this.tops.delete(t);
  }
}
