import type { z } from 'zod';

/** Stable error codes: scripts and tests match on these, never on wording. */
export type ErrorCode =
  | 'USAGE'
  | 'PROBE_START'
  | 'PROBE_EXITED'
  | 'KERNEL_UNSUPPORTED'
  | 'TRACE_INVALID'
  | 'TRACE_TRUNCATED'
  | 'CGROUP_NOT_FOUND'
  | 'PID_NOT_FOUND'
  | 'RULE_INVALID'
  | 'QUERY_INVALID'
  | 'POLICY_INVALID'
  | 'TLS_INVALID'
  | 'OUTPUT_FAILED'
  | 'IO';

/**
 * An error a person can act on: where it happened, what was wrong, what to
 * do. Printed by the CLI as one log line and a one-line message; never a
 * stack trace.
 */
export class ChainwatchError extends Error {
  readonly code: ErrorCode;
  readonly where: string | undefined;
  readonly fix: string | undefined;
  readonly issues: z.core.$ZodIssue[] | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { where?: string; fix?: string; issues?: z.core.$ZodIssue[]; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ChainwatchError';
    this.code = code;
    this.where = opts.where;
    this.fix = opts.fix;
    this.issues = opts.issues;
  }

  /** `where: message (fix: ...)` on one line. */
  describe(): string {
    // a message that already begins with its place (FILE:LINE:COL: …) is not prefixed with it again
    const head = this.where && !this.message.startsWith(`${this.where}:`) ? `${this.where}: ${this.message}` : this.message;
    return this.fix ? `${head} (fix: ${this.fix})` : head;
  }
}

/** Formats zod issues as `path.to.field: message` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
