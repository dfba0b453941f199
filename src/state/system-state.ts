import type { Event, EventKind } from '../schema/event.js';
import { onAddr, onAccept, onDest } from './apply-net.js';
import { onClose, onCloseRange, onDup, onFcntl, onGetfd, onPipe, onRights, onSocket, onSocketpair } from './apply-fd.js';
import { onMemfd, onOpen, onPath2, onSnapshotFd, onUnlink, onXattr } from './apply-file.js';
import { onIo, onXfer } from './apply-io.js';
import { onMap, onRemap, onUnmap } from './apply-memory.js';
import { onChdir, onComm, onExec, onExit, onFork, onLoss, onSeen, onSnapshotProcess, onTaskCgroup, onTaskCgroupGone } from './apply-process.js';
import type { Handler, HandlerTable } from './handler.js';
import { StateCore } from './state-core.js';

const HANDLERS: HandlerTable = {
  'process.seen': onSeen, 'process.fork': onFork, 'process.exec': onExec, 'process.comm': onComm,
  'process.exit': onExit, 'process.chdir': onChdir,
  'file.open': onOpen, 'file.memfd': onMemfd, 'file.path2': onPath2, 'file.unlink': onUnlink, 'file.xattr': onXattr,
  'fd.dup': onDup, 'fd.fcntl': onFcntl, 'fd.close': onClose, 'fd.close_range': onCloseRange,
  'fd.pipe': onPipe, 'fd.socket': onSocket, 'fd.socketpair': onSocketpair, 'fd.rights': onRights, 'fd.getfd': onGetfd,
  'net.addr': onAddr, 'net.accept': onAccept, 'net.dest': onDest,
  'mem.map': onMap, 'mem.unmap': onUnmap, 'mem.remap': onRemap,
  io: onIo, 'io.xfer': onXfer, loss: onLoss, 'enforce.kill': () => undefined, 'process.vm': () => undefined, 'process.compat_syscall': () => undefined,
  'snapshot.process': onSnapshotProcess, 'snapshot.fd': onSnapshotFd, 'task.cgroup': onTaskCgroup, 'task.cgroup_gone': onTaskCgroupGone,
};

/** Kinds that describe no process (pid 0 is a placeholder). */
const NO_PROCESS = new Set<EventKind>(['loss', 'task.cgroup', 'task.cgroup_gone']);

/**
 * The state stage: per host (or per guest stream), an exact picture of the
 * processes and what each of their descriptors points at. `apply` updates the
 * picture and attaches to the event who did it (`proc`) and what every fd it
 * names points at (`res`), plus absolute forms of its paths (`abs`). Views
 * are immutable snapshots, so later removals never change an emitted event.
 */
export class SystemState extends StateCore {
  apply(ev: Event): Event {
    this.stats.events++;
    // each field read once: events come in many shapes, so every read of one is a megamorphic load, and one of a
    // field V8 holds as a double (a 64-bit value such as the cgroup id) allocates a number each time
    const kind = ev.kind;
    if (NO_PROCESS.has(kind)) {
      (HANDLERS[kind] as Handler<typeof kind>)(this, ev as never, undefined as never);
      return ev;
    }
    const pid = ev.pid;
    const tid = ev.tid;
    const cgroup = ev.cgroup;
    let p = this.procs.get(pid);
    if (p === undefined) {
      // processes introduced by /proc or by the probe's first-sight record are known; any other first sign is counted
      if (ev.kind === 'snapshot.process' || ev.kind === 'process.seen') p = this.procs.create(pid, ev.ppid, ev.comm, cgroup);
      else {
        this.stats.unknownProcesses++;
        p = this.procs.create(pid, -1, '?', cgroup);
      }
    }
    if (tid !== pid && this.procs.pidOfTid.get(tid) !== p.pid) this.procs.addThread(p, tid);
    if (p.cgroup !== cgroup) {
      // moved to another cgroup (sandbox): it starts a process tree of its own there
      p.cgroup = cgroup;
      p.tree = p.pid;
    }
    const r = (HANDLERS[kind] as Handler<typeof kind>)(this, ev as never, p);
    if (r) {
      if (r.res !== undefined) ev.res = r.res;
      if (r.abs !== undefined && Object.keys(r.abs).length > 0) ev.abs = r.abs;
    }
    // describe the process as it is now (after exec, say); no handler puts another process at this pid
    const task = this.taskOf(cgroup);
    let v = p.view;
    if (v === undefined || v.ppid !== p.ppid || v.comm !== p.comm || v.exe !== p.exe || v.task !== task || v.tree !== p.tree) {
      v = { ppid: p.ppid, comm: p.comm, task, tree: p.tree };
      if (p.exe !== undefined) v.exe = p.exe;
      p.view = v;
    }
    ev.proc = v;
    return ev;
  }
}
