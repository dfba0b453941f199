import type { Correlator } from '../correlate/correlator.js';
import type { Event } from '../schema/event.js';
import type { Finding } from '../schema/finding.js';
import { SystemState } from '../state/system-state.js';

/** A tiny world: events for processes in tasks, run through the real state stage and the tracker. */
export class TestWorld {
  ts = 1;
  ino = 1000;
  readonly st = new SystemState();
  constructor(readonly correlator: Correlator) {
    this.st.objects.collectGone = true;
    correlator.findings.lineage = (pid) => this.st.procs.lineage(pid);
  }
  readonly out: Finding[] = [];
  private cg = new Map<string, number>();
  private nextCgroup = 100;

  /** As the pipeline's analyze(): state, then correlation, then the channels the event closed for good. */
  feed(ev: Event): void {
    this.st.apply(ev);
    this.out.push(...this.correlator.observe(ev));
    for (const c of this.st.objects.takeGone()) this.correlator.channelGone(c);
  }
  cgroup(task: string): number {
    let id = this.cg.get(task);
    if (id === undefined) {
      id = this.nextCgroup++;
      this.cg.set(task, id);
      this.feed({ kind: 'task.cgroup', ts: this.ts++, cgroup: id, pid: 0, tid: 0, path: task.startsWith('/') ? task : `/${task}`, task });
    }
    return id;
  }
  /** The task's cgroup is removed (a later use of the name makes a new one). */
  gone(task: string): void {
    const id = this.cg.get(task);
    if (id === undefined) return;
    this.cg.delete(task);
    this.feed({ kind: 'task.cgroup_gone', ts: this.ts++, cgroup: id, pid: 0, tid: 0, path: task.startsWith('/') ? task : `/${task}`, task });
  }
  b(task: string, pid: number) {
    return { ts: this.ts++, cgroup: this.cgroup(task), pid, tid: pid };
  }
  proc(task: string, pid: number, comm = 'p'): void {
    this.feed({ ...this.b(task, pid), kind: 'process.seen', ppid: 1, comm });
  }
  open(task: string, pid: number, fd: number, path: string, obj = `8:1:${this.ino++}`, flags = 0): string {
    this.feed({ ...this.b(task, pid), kind: 'file.open', syscall: 'openat', dirfd: -100, path, path_truncated: false, flags, mode: 0, ret: fd, obj, file_type: 'file' });
    return obj;
  }
  io(task: string, pid: number, dir: 'in' | 'out', fd: number, bytes = 100): void {
    const b = this.b(task, pid);
    this.feed({ ...b, kind: 'io', dir, syscall: dir === 'in' ? 'read' : 'write', fd, bytes, calls: 1, ts_first: b.ts, obj: null });
  }
  socket(task: string, pid: number, fd: number, addr = '10.0.0.9', port = 443): void {
    const obj = `0:9:${this.ino++}`;
    this.feed({ ...this.b(task, pid), kind: 'fd.socket', family: 'inet', sock_type: 1, protocol: 0, ret: fd, obj });
    this.feed({ ...this.b(task, pid), kind: 'net.addr', op: 'connect', fd, ret: 0, obj, family: 'inet', addr, port, peer_obj: null });
  }
  pipe(task: string, pid: number, r: number, w: number): void {
    this.feed({ ...this.b(task, pid), kind: 'fd.pipe', flags: 0, ret: 0, fds: [r, w], obj: `0:15:${this.ino++}` });
  }
  fork(task: string, pid: number, child: number, cloneFlags = 17): void {
    this.feed({ ...this.b(task, pid), kind: 'process.fork', child_tid: child, thread: false, clone_flags: cloneFlags });
  }
  exec(task: string, pid: number, argv: string[], truncated = false): void {
    this.feed({ ...this.b(task, pid), kind: 'process.exec', filename: `/usr/bin/${argv[0]}`, argv, argv_truncated: truncated, old_tid: pid, ppid: this.st.procs.get(pid)?.ppid ?? 1, exe_obj: null });
  }
  /** A shared mapping at `addr`: of fd's object (its kernel id `obj`), or anonymous (fd -1). prot 3 = read and write. */
  map(task: string, pid: number, addr: number, len: number, fd = -1, obj: string | null = null, prot = 3): void {
    this.feed({ ...this.b(task, pid), kind: 'mem.map', addr, len, prot, flags: 1 | (fd < 0 ? 0x20 : 0), fd, obj });
  }
  /** shmat of System V segment `shmid` in IPC namespace `ns` at `addr` (read-only: SHM_RDONLY). */
  shmat(task: string, pid: number, addr: number, shmid: number, ns = 4026531839, readOnly = false): void {
    this.feed({ ...this.b(task, pid), kind: 'mem.map', addr, len: 0, prot: readOnly ? 1 : 3, flags: 1, fd: -1, obj: null, shmid, ipc_ns: ns });
  }
  unmap(task: string, pid: number, addr: number, len: number): void {
    this.feed({ ...this.b(task, pid), kind: 'mem.unmap', addr, len });
  }
  remap(task: string, pid: number, addr: number, oldLen: number, newAddr: number, newLen: number): void {
    this.feed({ ...this.b(task, pid), kind: 'mem.remap', addr, old_len: oldLen, new_addr: newAddr, new_len: newLen });
  }
  close(task: string, pid: number, fd: number): void {
    this.feed({ ...this.b(task, pid), kind: 'fd.close', fd, ret: 0 });
  }
  exit(task: string, pid: number): void {
    this.feed({ ...this.b(task, pid), kind: 'process.exit', code: 0, group_dead: true });
  }
}
