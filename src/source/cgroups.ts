import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ChainwatchError } from '../util/errors.js';

/** Where cgroup v2 is mounted: /sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on unified ones. */
export function cgroupV2Root(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  const m = mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2');
  if (m === undefined) {
    throw new ChainwatchError('KERNEL_UNSUPPORTED', 'no cgroup v2 hierarchy is mounted', {
      fix: 'mount -t cgroup2 none /sys/fs/cgroup/unified',
    });
  }
  return m[1]!;
}

/** The cgroup v2 id (the directory's inode, as bpftrace's `cgroup` builtin reports it). */
export function cgroupIdOf(root: string, path: string): number {
  try {
    return Number(statSync(join(root, path)).ino);
  } catch {
    throw new ChainwatchError('CGROUP_NOT_FOUND', `cgroup ${path} does not exist under ${root}`, {
      fix: 'give the path relative to the cgroup v2 mount, e.g. --cgroup /sandboxes/sbx-1',
    });
  }
}

/** Ids of a cgroup and every cgroup below it, now. */
export function subtreeIds(root: string, path: string): number[] {
  const ids: number[] = [cgroupIdOf(root, path)];
  const walk = (rel: string): void => {
    let entries;
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = `${rel === '/' ? '' : rel}/${e.name}`;
      ids.push(cgroupIdOf(root, child));
      walk(child);
    }
  };
  walk(path);
  return ids;
}

/**
 * Maps cgroup ids seen in events to their paths (rescanning the hierarchy,
 * at most once a second, when an id is new).
 */
export class CgroupDirectory {
  private readonly paths = new Map<number, string>();
  private lastScan = 0;

  /** `under`: the subtree to scan (a cgroup-mode session needs no more). */
  constructor(
    private readonly root: string,
    private readonly under = '/',
  ) {}

  /**
   * The path of a cgroup id; an unknown id rescans (at most every 25 ms: a
   * cgroup made just now is found at once, and a name given is kept for good).
   */
  pathOf(id: number): string | undefined {
    let p = this.paths.get(id);
    if (p === undefined && Date.now() - this.lastScan > 25) {
      this.scan();
      p = this.paths.get(id);
    }
    return p;
  }

  /** A removed cgroup: its id is never seen again. */
  forget(id: number): void {
    this.paths.delete(id);
  }

  /** Every cgroup under the scanned subtree, now. */
  all(): { id: number; path: string }[] {
    this.scan();
    return [...this.paths].map(([id, path]) => ({ id, path }));
  }

  private scan(): void {
    this.lastScan = Date.now();
    const walk = (rel: string): void => {
      try {
        this.paths.set(Number(statSync(join(this.root, rel)).ino), rel);
        for (const e of readdirSync(join(this.root, rel), { withFileTypes: true })) {
          if (e.isDirectory()) walk(`${rel === '/' ? '' : rel}/${e.name}`);
        }
      } catch {
        // a cgroup removed while scanning
      }
    };
    walk(this.under);
  }
}
