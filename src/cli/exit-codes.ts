import type { ErrorCode } from '../util/errors.js';

/** Process exit codes (documented in README.md). */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  KERNEL: 3,
  PROBE_DIED: 4,
  INPUT: 5,
  OUTPUT: 6,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'USAGE':
    case 'CGROUP_NOT_FOUND':
    case 'PID_NOT_FOUND':
      return EXIT.USAGE;
    case 'KERNEL_UNSUPPORTED':
    case 'PROBE_START':
      return EXIT.KERNEL;
    case 'PROBE_EXITED':
      return EXIT.PROBE_DIED;
    case 'TRACE_INVALID':
    case 'RULE_INVALID':
    case 'QUERY_INVALID':
    case 'POLICY_INVALID':
    case 'TRACE_TRUNCATED':
    case 'TLS_INVALID':
      return EXIT.INPUT;
    case 'OUTPUT_FAILED':
      return EXIT.OUTPUT;
    case 'IO':
      return EXIT.FAILURE;
  }
}
