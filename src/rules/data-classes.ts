import { join } from 'node:path';
import picomatch from 'picomatch';
import { DataClassFile } from '../schema/data-class.js';
import { ChainwatchError } from '../util/errors.js';
import { packageDir } from '../util/package-dir.js';
import { pathGlobMatcher } from '../util/path-globs.js';
import { loadYamlFile, parseYamlText } from './yaml-file.js';

export const DATA_CLASS_EXAMPLE = `version: 1
classes:
  secret:
    why: credentials and keys
    paths: ["/etc/shadow", "**/.ssh/id_*"]`;

/** The classes a data-classes.yaml defines, for the files that name them (chain rules, policies). */
export interface DataClassNames {
  file: string;
  names: readonly string[];
}

const CLASSIFY_CACHE_PATHS = 65_536;
const NOT_SENSITIVE: readonly string[] = Object.freeze([]);

/**
 * Data classes compiled to matchers: which objects are sensitive, and why.
 * Defined in rules/ (never in code); paths are matched after normalisation.
 */
export class DataClasses {
  private readonly matchers: { name: string; match: (p: string) => boolean }[];
  /** path → classes: a path is read many times, its globs need matching once (bounded; cleared when full). */
  private readonly cache = new Map<string, readonly string[]>();

  constructor(
    readonly file: DataClassFile,
    /** Where it was read from (error messages name it). */
    readonly source = '<inline>',
  ) {
    this.matchers = Object.entries(file.classes).map(([name, c]) => {
      const inClass = pathGlobMatcher(c.paths, { strictBrackets: true });
      const excepted = c.except?.length ? pathGlobMatcher(c.except, { strictBrackets: true }) : undefined;
      return { name, match: (p: string) => inClass(p) && !(excepted?.(p) ?? false) };
    });
  }

  /** The classes a path belongs to (empty: not sensitive). The array is shared: do not change it. */
  classify(path: string): readonly string[] {
    const hit = this.cache.get(path);
    if (hit !== undefined) return hit;
    const out: string[] = [];
    for (const m of this.matchers) if (m.match(path)) out.push(m.name);
    if (this.cache.size >= CLASSIFY_CACHE_PATHS) this.cache.clear();
    const frozen = out.length === 0 ? NOT_SENSITIVE : Object.freeze(out);
    this.cache.set(path, frozen);
    return frozen;
  }

  /** The class is read by servers to serve (`read_to_serve`) and not named sensitive for this task. */
  readToServe(cls: string, task: string): boolean {
    const c = this.file.classes[cls];
    if (c?.read_to_serve !== true) return false;
    return !(c.sensitive_for_tasks ?? []).some((g) => picomatch.isMatch(task, g, { dot: true }));
  }

  why(cls: string): string {
    return this.file.classes[cls]?.why ?? '';
  }

  static load(file: string): DataClasses {
    return new DataClasses(loadYamlFile(file, DataClassFile, DATA_CLASS_EXAMPLE), file);
  }

  static parse(text: string, file = '<inline>'): DataClasses {
    return new DataClasses(parseYamlText(text, file, DataClassFile, DATA_CLASS_EXAMPLE), file);
  }

  /** The class names of rules/data-classes.yaml (or of `rulesDir`): the file checked as load() checks it, its globs not compiled into matchers. */
  static namesIn(rulesDir?: string): DataClassNames {
    const file = DataClasses.defaultFile(rulesDir);
    return { file, names: Object.keys(loadYamlFile(file, DataClassFile, DATA_CLASS_EXAMPLE).classes) };
  }

  get names(): DataClassNames {
    return { file: this.source, names: Object.keys(this.file.classes) };
  }

  /** rules/data-classes.yaml of this installation, or of `rulesDir`. */
  static defaultFile(rulesDir?: string): string {
    const dir = rulesDir ?? packageDir('rules', 'data-classes.yaml');
    if (dir === undefined) {
      throw new ChainwatchError('RULE_INVALID', 'cannot find rules/data-classes.yaml', { fix: 'pass --rules DIR' });
    }
    return join(dir, 'data-classes.yaml');
  }
}
