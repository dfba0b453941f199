import picomatch from 'picomatch';

/** Globs holding these get no prefilter: braces, classes, extglobs, escapes and negation make literal runs optional. */
const NO_PREFILTER = /[{}()[\]\\!+@]|\/\//;
/** What may match a variable stretch: a globstar with its slashes (it may match nothing, slash included), `*`, `?`. */
const VARIABLE = /\/?\*\*\/?|\*|\?/;

/**
 * A literal every path the glob matches contains (its longest run of plain
 * characters), or undefined when the glob has none worth checking.
 */
export function requiredLiteral(glob: string): string | undefined {
  if (NO_PREFILTER.test(glob)) return undefined;
  // a trailing slash is optional in what picomatch matches
  let best = '';
  for (const run of glob.replace(/\/+$/, '').split(VARIABLE)) if (run.length > best.length) best = run;
  return best.length >= 2 ? best : undefined;
}

/**
 * Path globs (any one matching) as one matcher, each glob guarded by a
 * literal it requires: the any-depth glob of `.kube/config` is only run as a regular expression
 * on paths that contain `.kube/config`. Most paths (a tree walk through
 * node_modules) contain none of the literals and cost a few substring
 * searches instead of a dozen backtracking regular expressions. Same answers
 * as picomatch(globs, { dot: true, ...opts }).
 */
export function pathGlobMatcher(globs: readonly string[], opts: picomatch.PicomatchOptions = {}): (path: string) => boolean {
  const o = { dot: true, ...opts };
  const guarded = globs.map((g) => ({ literal: requiredLiteral(g), test: picomatch(g, o) }));
  return (path) => {
    for (const g of guarded) if ((g.literal === undefined || path.includes(g.literal)) && g.test(path)) return true;
    return false;
  };
}
