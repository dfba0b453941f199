import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real small filesystem (tmpfs, mounted for the test: CI runs as root)
 * that can be filled up and freed again: a full disk for real, with the
 * kernel's own ENOSPC. `fill(left)` leaves about `left` bytes free; `free()`
 * gives the space back.
 */
export class SmallDisk {
  readonly dir: string;
  private readonly filler: string;

  constructor(bytes = 1 << 20) {
    this.dir = mkdtempSync(join(tmpdir(), 'cw-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', this.dir], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`cannot mount a tmpfs for the full-disk tests (they need root): ${(e as Error).message}`);
    }
    this.filler = join(this.dir, '.filler');
  }

  get available(): number {
    const s = statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /** Takes the free space, leaving about `left` bytes (tmpfs counts whole pages). */
  fill(left = 0): void {
    this.free();
    writeFileSync(this.filler, Buffer.alloc(Math.max(0, this.available - left)));
  }

  free(): void {
    rmSync(this.filler, { force: true });
  }

  unmount(): void {
    execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
