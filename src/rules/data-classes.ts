import { join } from 'node:path';
import picomatch from 'picomatch';
import { DataClassFile } from '../schema/data-class.js';
import { ChainwatchError } from '../util/errors.js';
import { packageDir } from '../util/package-dir.js';
import { loadYamlFile, parseYamlText } from './yaml-file.js';

export const DATA_CLASS_EXAMPLE = `version: 1
classes:
  secret:
    why: credentials and keys
    paths: ["/etc/shadow", "**/.ssh/id_*"]`;

/**
 * Data classes compiled to matchers: which objects are sensitive, and why.
 * Defined in rules/ (never in code); paths are matched after normalisation.
 */
export class DataClasses {
  private readonly matchers: { name: string; match: (p: string) => boolean }[];

  constructor(readonly file: DataClassFile) {
    this.matchers = Object.entries(file.classes).map(([name, c]) => {
      const inClass = picomatch(c.paths, { dot: true, strictBrackets: true });
      const excepted = c.except?.length ? picomatch(c.except, { dot: true, strictBrackets: true }) : undefined;
      return { name, match: (p: string) => inClass(p) && !(excepted?.(p) ?? false) };
    });
  }

  /** The classes a path belongs to (empty: not sensitive). */
  classify(path: string): string[] {
    const out: string[] = [];
    for (const m of this.matchers) if (m.match(path)) out.push(m.name);
    return out;
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
    return new DataClasses(loadYamlFile(file, DataClassFile, DATA_CLASS_EXAMPLE));
  }

  static parse(text: string, file = '<inline>'): DataClasses {
    return new DataClasses(parseYamlText(text, file, DataClassFile, DATA_CLASS_EXAMPLE));
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
