import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * JSON Lines to a file or to stdout (`-`). Stdout carries data only (events,
 * findings); logs go to stderr. `close()` resolves once everything written is
 * flushed to the OS.
 */
export class JsonlWriter {
  private readonly out: NodeJS.WritableStream | WriteStream;
  private readonly isStdout: boolean;
  written = 0;

  constructor(target: string) {
    this.isStdout = target === '-';
    this.out = this.isStdout ? process.stdout : createWriteStream(target, { flags: 'w' });
  }

  write(obj: unknown): void {
    this.out.write(`${JSON.stringify(obj)}\n`);
    this.written++;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.isStdout) {
        // stdout stays open for the process; wait for what we wrote to drain
        if (process.stdout.writableNeedDrain) process.stdout.once('drain', () => resolve());
        else resolve();
        return;
      }
      const ws = this.out as WriteStream;
      ws.once('error', reject);
      ws.end(() => resolve());
    });
  }
}
