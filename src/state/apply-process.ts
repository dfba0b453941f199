import type { EventOf } from '../schema/event.js';
import { FdTable } from './fd-table.js';
import type { Handler } from './handler.js';
import { resolvePath } from './paths.js';
import type { Process } from './process-table.js';
import type { StateCore } from './state-core.js';

const CLONE_FILES = 0x400;

export const onSeen: Handler<'process.seen'> = (_st, ev, p) => {
  if (p.ppid < 0) p.ppid = ev.ppid;
  if (p.comm === '?' && ev.tid === ev.pid) p.comm = ev.comm;
};

export const onFork: Handler<'process.fork'> = (st, ev, parent) => {
  if (ev.thread) {
    st.procs.addThread(parent, ev.child_tid);
    return;
  }
  const stale = st.procs.get(ev.child_tid);
  if (stale !== undefined) exitProcess(st, stale);
  let fds: FdTable;
  if ((ev.clone_flags & CLONE_FILES) !== 0) {
    fds = parent.fds;
    fds.users++;
  } else {
    fds = st.copyFds(parent.fds);
  }
  const child = st.procs.create(ev.child_tid, parent.pid, parent.comm, ev.cgroup, fds);
  child.parent = st.procs.lineageOf(parent);
  if (parent.cwd !== undefined) child.cwd = parent.cwd;
  if (parent.exe !== undefined) child.exe = parent.exe;
  if (parent.argv !== undefined) child.argv = parent.argv;
  child.argvTruncated = parent.argvTruncated;
};

export const onExec: Handler<'process.exec'> = (st, ev, p) => {
  // de_thread: every other thread is gone; the exec'ing thread becomes the leader
  for (const tid of [...p.threads]) if (tid !== p.pid) st.procs.removeThread(p, tid);
  st.unshareFds(p); // exec unshares a CLONE_FILES table
  for (const e of p.fds.dropCloexec()) st.objects.release(e.obj);
  const exe = resolvePath(p.cwd, ev.filename) ?? ev.filename;
  p.exe = exe;
  p.argv = ev.argv;
  p.argvTruncated = ev.argv_truncated;
  p.ppid = ev.ppid;
  if (exe !== ev.filename) return { abs: { filename: exe } };
};

export const onComm: Handler<'process.comm'> = (_st, ev, p) => {
  if (ev.tid === ev.pid) p.comm = ev.comm;
};

export const onExit: Handler<'process.exit'> = (st, ev, p) => {
  if (ev.group_dead) exitProcess(st, p);
  else st.procs.removeThread(p, ev.tid);
};

export function exitProcess(st: StateCore, p: Process): void {
  p.fds.users--;
  if (p.fds.users <= 0) st.releaseAll(p.fds);
  st.procs.remove(p);
  st.stats.exitedProcesses++;
}

export const onChdir: Handler<'process.chdir'> = (st, ev, p) => {
  if (ev.ret !== 0) return;
  if (ev.path !== undefined) {
    const d = resolvePath(p.cwd, ev.path);
    if (d !== undefined) p.cwd = d;
    else p.cwd = undefined;
    return d === undefined ? undefined : { abs: { path: d } };
  }
  if (ev.fd !== undefined) {
    const e = p.fds.get(ev.fd);
    const d = e?.obj.path;
    if (d !== undefined) p.cwd = d;
    else p.cwd = undefined;
  }
};

export const onSnapshotProcess: Handler<'snapshot.process'> = (_st, ev, p) => {
  p.ppid = ev.ppid;
  p.comm = ev.comm;
  if (ev.exe !== undefined) p.exe = ev.exe;
  if (ev.cwd !== undefined) p.cwd = ev.cwd;
  p.argv = ev.argv;
  p.argvTruncated = false;
  if (ev.tree !== undefined) p.tree = ev.tree;
};

export const onTaskCgroup: Handler<'task.cgroup'> = (st, ev: EventOf<'task.cgroup'>) => {
  st.cgroups.set(ev.cgroup, { path: ev.path, task: ev.task });
};

export const onTaskCgroupGone: Handler<'task.cgroup_gone'> = (st, ev: EventOf<'task.cgroup_gone'>) => {
  st.cgroups.delete(ev.cgroup);
};

export const onLoss: Handler<'loss'> = () => undefined;
