/**
 * For a log line that can repeat at the rate of the input (a loss report
 * under overload): the first few are logged as they come, then at most one
 * every `everyMs`, saying how many occurrences it stands for. The counts
 * themselves are kept exactly elsewhere (summaries, the audit log).
 */
export class LogThrottle {
  private logged = 0;
  private last = Number.NEGATIVE_INFINITY;
  private folded = 0;

  constructor(
    private readonly first = 5,
    private readonly everyMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether to log this occurrence; `occurrences` is how many this line stands for (itself and those not logged before it). */
  take(): { log: boolean; occurrences: number } {
    this.folded++;
    const t = this.now();
    if (this.logged < this.first || t - this.last >= this.everyMs) {
      const occurrences = this.folded;
      this.logged++;
      this.last = t;
      this.folded = 0;
      return { log: true, occurrences };
    }
    return { log: false, occurrences: 0 };
  }

  /** Occurrences since the last line logged (for a final line). */
  get pending(): number {
    return this.folded;
  }
}
