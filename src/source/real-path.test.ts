import { closeSync, mkdtempSync, openSync, realpathSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { EventOf } from '../schema/event.js';
import { ev } from '../testing/events.js';
import { SystemState } from '../state/system-state.js';
import { OpenPathResolver } from './real-path.js';

const dir = mkdtempSync(join(tmpdir(), 'cw-realpath-'));
symlinkSync('/etc/hostname', join(dir, 'notes'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pids no process has: what a record looks like once a short-lived process is gone. */
const GONE = 2_000_000_001;
const GONE_CHILD = 2_000_000_002;
const O_NOFOLLOW = 0o400000;

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

it('an absolute path is resolved again when an open of it reaches another object, and reused while it reaches the same one', () => {
  const r = new OpenPathResolver();
  const link = join(dir, 'moving');
  symlinkSync('/etc/hostname', link);
  const first = { ...open(GONE, link), obj: '8:1:1' };
  r.observe(first);
  expect(first.real_path).toBe(realpathSync('/etc/hostname'));
  // the link now leads elsewhere: the open reaches another object, so the path is resolved again
  unlinkSync(link);
  symlinkSync('/etc/passwd', link);
  const swapped = { ...open(GONE, link), obj: '8:1:2' };
  r.observe(swapped);
  expect(swapped.real_path).toBe(realpathSync('/etc/passwd'));
  // the same object through the same path: remembered, no realpath (the link is gone now, so only memory can answer)
  unlinkSync(link);
  const again = { ...open(GONE, link), obj: '8:1:2' };
  r.observe(again);
  expect(again.real_path).toBe(realpathSync('/etc/passwd'));
  // a path that resolves to itself is remembered as such
  const plain = { ...open(GONE, '/etc/hostname'), obj: '8:1:3' };
  r.observe(plain);
  r.observe(plain);
  expect(plain.real_path).toBeUndefined();
});

it('one name opened under a directory fd without following symlinks is named by the state from the directory; with following, the link is resolved', () => {
  const r = new OpenPathResolver();
  const st = new SystemState();
  st.apply(ev.seen(process.pid));
  const dirfd = openSync(dir, 'r');
  try {
    // the directory's own open (resolved here) names the directory object in the state
    const dirOpen = { ...open(process.pid, dir), ret: dirfd, obj: '8:1:500', file_type: 'dir' as const };
    r.observe(dirOpen);
    st.apply(dirOpen);
    // O_NOFOLLOW|O_PATH opens the link itself: its own name in the directory, no syscall, and after the process is gone too
    const noFollow = { ...open(process.pid, 'notes'), ret: 20, obj: '8:1:501', dirfd, flags: O_NOFOLLOW };
    r.observe(noFollow);
    expect(noFollow.real_path).toBeUndefined();
    expect(st.apply(noFollow).abs?.path).toBe(join(realpathSync(dir), 'notes'));
    expect(st.apply(ev.read(process.pid, 20, 5, '8:1:501')).res?.fd?.path).toBe(join(realpathSync(dir), 'notes'));
    // following symlinks, the same name is resolved through the live directory fd
    const follow = { ...open(process.pid, 'notes'), dirfd };
    r.observe(follow);
    expect(follow.real_path).toBe(realpathSync('/etc/hostname'));
    // more than one name: resolved through /proc too
    const deeper = { ...open(process.pid, `../${basename(dir)}/notes`), dirfd, flags: O_NOFOLLOW };
    r.observe(deeper);
    expect(deeper.real_path).toBe(realpathSync('/etc/hostname'));
  } finally {
    closeSync(dirfd);
  }
});
