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
export class EarlierNames {
  private readonly names = new Map<string, string>();
  private readonly order = new OldestFirst(this.names);

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
    this.names.delete(from);
    if (first === to) this.names.delete(to);
    else this.set(to, first);
  }

  /** `unlink(name)` or `rmdir(name)` succeeded: the name stands for nothing now. */
  unlinked(name: string): void {
    this.names.delete(name);
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
    this.names.delete(name);
    if (this.names.size >= MAX_NAMES) this.order.evict();
    this.names.set(name, earlier);
  }
}
