import { mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { EventOf } from '../schema/event.js';
import { ev } from '../testing/events.js';
import { OpenPathResolver } from './real-path.js';

const dir = mkdtempSync(join(tmpdir(), 'cw-realpath-'));
symlinkSync('/etc/hostname', join(dir, 'notes'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pids no process has: what a record looks like once a short-lived process is gone. */
const GONE = 2_000_000_001;
const GONE_CHILD = 2_000_000_002;

const open = (pid: number, path: string): EventOf<'file.open'> => ev.open(pid, 3, '8:1:77', path);

it('resolves a relative open of a process that is already gone through the working directory followed from its events', () => {
  const r = new OpenPathResolver();
  r.observe({ ...ev.close(GONE, 9), kind: 'process.chdir', path: dir, ret: 0 } as EventOf<'process.chdir'>);
  r.observe(ev.fork(GONE, GONE_CHILD));
  const rel = open(GONE_CHILD, 'notes');
  r.observe(rel);
  expect(rel.real_path).toBe(realpathSync('/etc/hostname'));
  // the parent's own relative open resolves the same way
  const parentRel = open(GONE, './notes');
  r.observe(parentRel);
  expect(parentRel.real_path).toBe(realpathSync('/etc/hostname'));
});

it('an absolute path through a symlink needs no process; a process whose directory was never seen stays unresolved', () => {
  const r = new OpenPathResolver();
  const abs = open(GONE, join(dir, 'notes'));
  r.observe(abs);
  expect(abs.real_path).toBe(realpathSync('/etc/hostname'));
  const plain = open(GONE, '/etc/hostname');
  r.observe(plain);
  expect(plain.real_path).toBeUndefined();
  const unknown = open(GONE + 10, 'notes');
  r.observe(unknown);
  expect(unknown.real_path).toBeUndefined();
});

it('forgets a process at its exit and follows a live process through /proc', () => {
  const r = new OpenPathResolver();
  r.observe({ ...ev.close(GONE, 9), kind: 'process.chdir', path: dir, ret: 0 } as EventOf<'process.chdir'>);
  r.observe(ev.exit(GONE));
  const after = open(GONE, 'notes');
  r.observe(after);
  expect(after.real_path).toBeUndefined();
  // this process is alive: its cwd comes from /proc
  const self = open(process.pid, 'package.json');
  r.observe(self);
  expect(self.real_path).toBe(realpathSync(join(process.cwd(), 'package.json')));
});
