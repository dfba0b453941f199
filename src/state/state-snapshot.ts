import type { Event, EventOf } from '../schema/event.js';
import type { KernelObject } from './object-table.js';
import type { Process } from './process-table.js';
import type { StateCore } from './state-core.js';
import { O_CLOEXEC } from './state-core.js';

/**
 * The state as canonical events: every named cgroup (`task.cgroup`), every
 * process (`snapshot.process`, parents first) and every descriptor
 * (`snapshot.fd`, with the object as resolved), stamped `ts`. Applied to
 * an empty state they give the same processes, descriptors and views: a
 * later segment of a rotated recording starts with them, so it replays on
 * its own. Not carried: SCM_RIGHTS messages in flight, descriptor tables
 * shared between processes by CLONE_FILES (each gets its own copy), and
 * what the later stages keep (flow marks, open chains): replaying the
 * segments in order keeps those.
 */
export function stateSnapshot(st: StateCore, ts: number): Event[] {
  const out: Event[] = [];
  for (const [cgroup, n] of st.cgroups) out.push({ kind: 'task.cgroup', ts, cgroup, pid: 0, tid: 0, path: n.path, task: n.task });
  for (const p of parentsFirst(st)) {
    const proc: EventOf<'snapshot.process'> = { kind: 'snapshot.process', ts, cgroup: p.cgroup, pid: p.pid, tid: p.pid, ppid: p.ppid, comm: p.comm, argv: p.argv ?? [], tree: p.tree };
    if (p.exe !== undefined) proc.exe = p.exe;
    if (p.cwd !== undefined) proc.cwd = p.cwd;
    out.push(proc);
    for (const fd of [...p.fds.entries.keys()].sort((a, b) => a - b)) {
      const e = p.fds.entries.get(fd)!;
      const o = e.obj;
      out.push(fdEvent(ts, p, fd, o, e.flags, e.cloexec));
    }
  }
  return out;
}

function fdEvent(ts: number, p: Process, fd: number, o: KernelObject, flags: number | undefined, cloexec: boolean): EventOf<'snapshot.fd'> {
  const ev: EventOf<'snapshot.fd'> = {
    kind: 'snapshot.fd',
    ts,
    cgroup: p.cgroup,
    pid: p.pid,
    tid: p.pid,
    fd,
    obj: o.id,
    target: o.path ?? `${o.type}:[${o.id}]`,
    flags: (flags ?? 0) | (cloexec ? O_CLOEXEC : 0),
    object_type: o.type,
  };
  if (flags === undefined) ev.flags_unknown = true;
  if (o.path !== undefined) ev.path = o.path;
  if (o.aka !== undefined) ev.aka = o.aka;
  if (o.family !== undefined) ev.family = o.family;
  if (o.sockType !== undefined) ev.sock_type = o.sockType;
  if (o.accepted === true) ev.accepted = true;
  if (o.local !== undefined) ev.local = o.local;
  if (o.peer !== undefined) ev.peer = o.peer;
  if (o.peerId !== undefined) ev.peer_obj = o.peerId;
  return ev;
}

/** Processes with every known parent before its children (pid order among siblings). */
function parentsFirst(st: StateCore): Process[] {
  const children = new Map<number, Process[]>();
  const roots: Process[] = [];
  for (const p of st.procs.byPid.values()) {
    if (p.ppid !== p.pid && st.procs.get(p.ppid) !== undefined) {
      let c = children.get(p.ppid);
      if (c === undefined) children.set(p.ppid, (c = []));
      c.push(p);
    } else roots.push(p);
  }
  const out: Process[] = [];
  const seen = new Set<number>();
  const byPid = (a: Process, b: Process): number => a.pid - b.pid;
  const walk = (from: Process): void => {
    const stack = [from];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (seen.has(p.pid)) continue;
      seen.add(p.pid);
      out.push(p);
      const c = children.get(p.pid);
      if (c !== undefined) stack.push(...c.sort(byPid).reverse());
    }
  };
  for (const r of roots.sort(byPid)) walk(r);
  // parents that form a cycle (pid reuse) have no root: still every process once
  for (const p of [...st.procs.byPid.values()].sort(byPid)) walk(p);
  return out;
}
