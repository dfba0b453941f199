import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ChainwatchError } from './errors.js';

/**
 * The file a worker thread runs: `relative` (e.g. `source/trace-parse-worker.js`)
 * under the `src/` folder of the module at `moduleUrl`. The built CLI runs
 * from `dist/src/`, where it lies beside its caller; tests run the sources
 * (`src/*.ts`), and a worker thread cannot run TypeScript, so there it is
 * the built copy in `dist/src/` (`npm test` builds first).
 */
export function workerFile(moduleUrl: string, relative: string): string {
  const here = fileURLToPath(moduleUrl);
  const at = here.lastIndexOf('/src/');
  if (at < 0) throw new ChainwatchError('IO', `cannot place worker ${relative}`, { where: here, fix: 'run chainwatch from its package (dist/src/)' });
  const root = here.slice(0, at);
  const built = here.endsWith('.ts') ? `${root}/dist/src/${relative}` : `${root}/src/${relative}`;
  if (!existsSync(built)) throw new ChainwatchError('IO', `worker ${relative} is not built`, { where: built, fix: 'npm run build' });
  return built;
}
