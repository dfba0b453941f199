import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainwatchError } from '../util/errors.js';
import { readFindingsFile } from './findings-file.js';

const dir = mkdtempSync(join(tmpdir(), 'cw-findings-file-'));
const shipped = join(import.meta.dirname, '../../replays/pipeline-gzip-nc.findings.jsonl');

describe('readFindingsFile', () => {
  it('reads every finding of a file chainwatch wrote, skipping blank lines', () => {
    const lines = readFileSync(shipped, 'utf8').split('\n').filter(Boolean);
    const file = join(dir, 'ok.jsonl');
    writeFileSync(file, `${lines.join('\n\n')}\n`);
    const got = readFindingsFile(file);
    expect(got).toHaveLength(lines.length);
    expect(got.map((f) => f.id)).toEqual(lines.map((l) => (JSON.parse(l) as { id: string }).id));
  });

  it('names the file and line of a line that is not JSON or not a finding, and a file it cannot read', () => {
    const [first] = readFileSync(shipped, 'utf8').split('\n');
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, `${first}\n{"id": 3}\n`);
    const failure = (f: string): ChainwatchError => {
      try {
        readFindingsFile(f);
      } catch (e) {
        return e as ChainwatchError;
      }
      throw new Error('no error');
    };
    expect(failure(file).describe()).toMatch(new RegExp(`^${file}:2: not a finding: `));
    writeFileSync(file, `${first}\nnot json\n`);
    expect(failure(file).describe()).toMatch(new RegExp(`^${file}:2: not JSON: `));
    expect(failure(join(dir, 'missing.jsonl')).describe()).toMatch(/missing\.jsonl: cannot read the findings file: ENOENT/);
  });

  it('on any text: findings, or an error naming a line of the file (never another exception)', () => {
    const [first] = readFileSync(shipped, 'utf8').split('\n');
    const file = join(dir, 'any.jsonl');
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(first!), fc.string(), fc.json()), { maxLength: 6 }), (lines) => {
        writeFileSync(file, lines.join('\n'));
        try {
          readFindingsFile(file);
        } catch (e) {
          expect(e).toBeInstanceOf(ChainwatchError);
          expect((e as ChainwatchError).where).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+$`));
        }
      }),
      { numRuns: 300 },
    );
  });
});
