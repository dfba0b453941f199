import { describe, expect, it } from 'vitest';
import { ChainwatchError } from '../util/errors.js';
import { DataClasses } from './data-classes.js';

const err = (text: string): string => {
  try {
    DataClasses.parse(text, 'rules/x.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ChainwatchError);
    expect((e as ChainwatchError).code).toBe('RULE_INVALID');
    return (e as ChainwatchError).message;
  }
  throw new Error('expected an error');
};

describe('data classes', () => {
  it('the shipped rules/data-classes.yaml loads and classifies', () => {
    const c = DataClasses.load(DataClasses.defaultFile());
    expect(c.classify('/etc/shadow')).toEqual(['secret']);
    // classes are labels: a key in a home directory is both a secret and the user's data
    expect(c.classify('/home/u/.ssh/id_ed25519')).toEqual(['secret', 'user-data']);
    expect(c.classify('/home/u/Documents/a.txt')).toEqual(['user-data']);
    expect(c.classify('/proc/1/environ')).toEqual(['secret']);
    expect(c.classify('/srv/app/.env')).toEqual(['secret']);
    expect(c.classify('/etc/hostname')).toEqual([]);
    expect(c.classify('/etc/apache2/.htpasswd')).toEqual([]);
    // public CA bundles match *.pem but are excepted
    expect(c.classify('/srv/tls/server-key.pem')).toEqual(['tls-key']);
    // a server's TLS key: sending on accepted connections is serving with it, unless the task is named sensitive
    expect(c.readToServe('tls-key', 'web')).toBe(true);
    expect(c.readToServe('secret', 'web')).toBe(false);
    expect(c.classify('/etc/ssl/certs/ca-certificates.crt')).toEqual([]);
    expect(c.classify('/etc/ssl/certs/sandboxing-egress-ca.pem')).toEqual([]);
    expect(c.classify('/usr/lib/python3/dist-packages/certifi/cacert.pem')).toEqual([]);
  });

  it('names file, line, column and field for each mistake', () => {
    expect(err('version: 1\nclasses:\n  secret:\n    why: keys\n    paths: [42]\n')).toBe('rules/x.yaml:5:13: classes.secret.paths.0: Invalid input: expected string, received number');
    expect(err('version: 1\nclasses:\n  secret:\n    why: keys\n    paths: ["etc/shadow"]\n')).toContain('rules/x.yaml:5:13: classes.secret.paths.0: expected an absolute glob');
    expect(err('version: 1\nclasses:\n  secret:\n    why: keys\n    paths: ["/a/[b"]\n')).toContain('not a valid glob');
    const unknown = err('version: 1\nclasses:\n  secret:\n    why: keys\n    pathz: ["/a"]\n');
    expect(unknown).toContain('rules/x.yaml:5:12: classes.secret: Unrecognized key: "pathz"');
    expect(unknown).toContain('classes.secret.paths: Invalid input: expected array, received undefined');
    expect(err('version: 2\nclasses: {}\n')).toMatch(/^rules\/x\.yaml:1:10: version:/);
    expect(err('version: 1\nclasses:\n  Secret!: {why: x, paths: ["/a"]}\n')).toContain('classes.Secret!');
    expect(err('version: 1\nclasses: [\n')).toMatch(/^rules\/x\.yaml:\d+:\d+: not valid YAML/);
  });
});
