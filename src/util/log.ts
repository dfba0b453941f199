import { pino, type Logger } from 'pino';

/**
 * The root logger: structured JSON on stderr (fd 2), never stdout, which is
 * reserved for findings and data. One child logger per module:
 * `rootLog.child({ module: 'state/fd-table' })`. Attacker-controlled values
 * (comm, paths) go under an `evt` key, never spread into the top level.
 */
export const rootLog: Logger = pino(
  {
    level: process.env.CHAINWATCH_LOG_LEVEL ?? 'info',
    base: { app: 'chainwatch' },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  pino.destination({ dest: 2, sync: true }),
);

export function moduleLog(module: string): Logger {
  return rootLog.child({ module });
}

export type { Logger };
