import { describe, expect, it } from 'vitest';
import { ChainwatchError } from './errors.js';

describe('ChainwatchError.describe', () => {
  it('puts the place before the message, and the fix after it', () => {
    expect(new ChainwatchError('USAGE', 'no such trace', { where: 'a.jsonl', fix: 'check the path' }).describe()).toBe('a.jsonl: no such trace (fix: check the path)');
    expect(new ChainwatchError('IO', 'disk full').describe()).toBe('disk full');
  });

  it('does not name the place twice when the message already begins with it (FILE:LINE:COL: …)', () => {
    expect(new ChainwatchError('RULE_INVALID', 'p.yaml:2:1: not valid YAML: bad', { where: 'p.yaml', fix: 'fix it' }).describe()).toBe('p.yaml:2:1: not valid YAML: bad (fix: fix it)');
    // a message that merely starts with the same letters is still placed
    expect(new ChainwatchError('USAGE', 'p.yaml.bak is not read', { where: 'p.yaml' }).describe()).toBe('p.yaml: p.yaml.bak is not read');
  });
});
