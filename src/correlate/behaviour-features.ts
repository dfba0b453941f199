import type { Event, ObjectView, ProcView } from '../schema/event.js';
import type { NumericFeature } from '../schema/baseline.js';
import { leavesMachine } from './egress.js';
import type { FlowTransmitFact } from './flow-facts.js';

/**
 * What baselines measure, per task, from resolved events and flow facts:
 * numeric samples (read-to-transmit latency, bytes out per byte in, bytes
 * and sends per minute, chain hops, time between sends), set members
 * (executables, destinations, data classes sent) and transitions between
 * canonical event kinds per process role (the executable's name). The same
 * extractor feeds `baseline learn` and run-time scoring, so what is learned
 * is exactly what is scored.
 */
export interface Origin {
  ts: number;
  task: string;
  pid: number;
  proc: ProcView | undefined;
}

export interface Sample extends Origin {
  feature: NumericFeature;
  value: number;
  /** A running value (the current minute so far, the ratio so far): only an upper bound applies. */
  partial: boolean;
}

export interface Member extends Origin {
  set: 'executables' | 'destinations' | 'data_classes';
  value: string;
}

export interface Transition extends Origin {
  role: string;
  transition: string;
}

export interface FeatureSink {
  sample(s: Sample): void;
  member(m: Member): void;
  transition(t: Transition): void;
  /** The task ended (its last cgroup was removed): nothing more comes for it. */
  taskEnded?(task: string): void;
}

interface TaskState {
  bytesIn: number;
  bytesOut: number;
  minuteStart: number;
  minuteBytes: number;
  minuteSends: number;
  lastSend: number | undefined;
  last: Origin;
}

const MINUTE = 60e9;

const destOf = (v: ObjectView): string | undefined => (v.peer?.addr !== undefined ? `${v.peer.addr}:${v.peer.port ?? 0}` : undefined);
const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

function kindKey(ev: Event): string | undefined {
  switch (ev.kind) {
    case 'task.cgroup':
    case 'loss':
      return undefined;
    case 'io':
      return `io.${ev.dir}`;
    case 'net.addr':
      return `net.${ev.op}`;
    default:
      return ev.kind.startsWith('snapshot.') ? undefined : ev.kind;
  }
}

export class BehaviourFeatures {
  private readonly tasks = new Map<string, TaskState>();
  private readonly lastKind = new Map<number, string>();

  /** Interned `a>b` keys and executable names: one string per distinct value, not one per event. */
  private readonly keys = new Map<string, Map<string, string>>();
  private readonly roles = new Map<string, string>();

  constructor(private readonly out: FeatureSink) {}

  private transitionKey(a: string, b: string): string {
    let m = this.keys.get(a);
    if (m === undefined) this.keys.set(a, (m = new Map()));
    let key = m.get(b);
    if (key === undefined) m.set(b, (key = `${a}>${b}`));
    return key;
  }

  private roleOf(exe: string): string {
    let r = this.roles.get(exe);
    if (r === undefined) {
      if (this.roles.size > 10_000) this.roles.clear();
      this.roles.set(exe, (r = basename(exe)));
    }
    return r;
  }

  private task(o: Origin): TaskState {
    let t = this.tasks.get(o.task);
    if (t === undefined) {
      t = { bytesIn: 0, bytesOut: 0, minuteStart: o.ts, minuteBytes: 0, minuteSends: 0, lastSend: undefined, last: o };
      this.tasks.set(o.task, t);
    }
    t.last = o;
    return t;
  }

  observe(ev: Event): void {
    const task = ev.proc?.task;
    if (task === undefined || task === '') return;
    const o: Origin = { ts: ev.ts, task, pid: ev.pid, proc: ev.proc };
    const t = this.task(o);
    if (ev.ts - t.minuteStart >= MINUTE) this.closeMinute(t, o);
    const k = kindKey(ev);
    if (k !== undefined) {
      if (ev.kind === 'process.exit' && ev.group_dead) this.lastKind.delete(ev.pid);
      else {
        const prev = this.lastKind.get(ev.pid);
        this.lastKind.set(ev.pid, k);
        if (prev !== undefined) {
          const exe = ev.proc?.exe;
          const role = exe !== undefined ? this.roleOf(exe) : (ev.proc?.comm ?? '?');
          this.out.transition({ ts: o.ts, task, pid: o.pid, proc: o.proc, role, transition: this.transitionKey(prev, k) });
        }
      }
    }
    switch (ev.kind) {
      case 'process.exec':
        this.out.member({ ...o, set: 'executables', value: ev.abs?.filename ?? ev.filename });
        break;
      case 'net.addr': {
        const ok = ev.ret === 0 || ev.ret === -115;
        if (ok && ev.op === 'connect' && (ev.family === 'inet' || ev.family === 'inet6')) this.out.member({ ...o, set: 'destinations', value: `${ev.addr ?? ''}:${ev.port ?? 0}` });
        break;
      }
      case 'io': {
        const v = ev.res?.fd;
        if (ev.dir === 'in' && v?.type === 'file') t.bytesIn += ev.bytes;
        else if (ev.dir === 'out' && v !== undefined && leavesMachine(v)) this.send(t, o, v, ev.bytes, ev.calls ?? 1);
        break;
      }
      case 'io.xfer': {
        const v = ev.res?.fd_out;
        if (ev.res?.fd_in?.type === 'file') t.bytesIn += ev.bytes;
        if (v !== undefined && leavesMachine(v)) this.send(t, o, v, ev.bytes, 1);
        break;
      }
      default:
        break;
    }
  }

  private send(t: TaskState, o: Origin, v: ObjectView, bytes: number, calls: number): void {
    if (bytes <= 0) return;
    const dest = destOf(v);
    if (dest !== undefined) this.out.member({ ...o, set: 'destinations', value: dest });
    if (t.lastSend !== undefined) this.out.sample({ ...o, feature: 'send_gap_ms', value: (o.ts - t.lastSend) / 1e6, partial: false });
    t.lastSend = o.ts;
    t.bytesOut += bytes;
    t.minuteBytes += bytes;
    t.minuteSends += calls;
    this.out.sample({ ...o, feature: 'bytes_out_per_min', value: t.minuteBytes, partial: true });
    this.out.sample({ ...o, feature: 'sends_per_min', value: t.minuteSends, partial: true });
  }

  private closeMinute(t: TaskState, o: Origin): void {
    if (t.minuteSends > 0) {
      this.out.sample({ ...t.last, feature: 'bytes_out_per_min', value: t.minuteBytes, partial: false });
      this.out.sample({ ...t.last, feature: 'sends_per_min', value: t.minuteSends, partial: false });
      this.out.sample({ ...t.last, feature: 'bytes_out_per_byte_in', value: t.bytesOut / Math.max(t.bytesIn, 1), partial: true });
    }
    t.minuteStart += Math.floor((o.ts - t.minuteStart) / MINUTE) * MINUTE;
    t.minuteBytes = 0;
    t.minuteSends = 0;
  }

  observeTransmit(f: FlowTransmitFact): void {
    const task = f.proc?.task;
    if (task === undefined || task === '') return;
    const o: Origin = { ts: f.ts, task, pid: f.pid, proc: f.proc };
    this.out.sample({ ...o, feature: 'read_to_transmit_ms', value: f.latency_ns / 1e6, partial: false });
    this.out.sample({ ...o, feature: 'chain_hops', value: f.hops, partial: false });
    this.out.member({ ...o, set: 'data_classes', value: f.data_class });
  }

  /** A task's last minute and its whole-run ratio. */
  private last(t: TaskState): void {
    if (t.minuteSends > 0) {
      this.out.sample({ ...t.last, feature: 'bytes_out_per_min', value: t.minuteBytes, partial: false });
      this.out.sample({ ...t.last, feature: 'sends_per_min', value: t.minuteSends, partial: false });
    }
    if (t.bytesOut > 0 || t.bytesIn > 0) this.out.sample({ ...t.last, feature: 'bytes_out_per_byte_in', value: t.bytesOut / Math.max(t.bytesIn, 1), partial: false });
  }

  /** The task ended: its last samples, then it is forgotten here and by the sink. */
  endTask(task: string): void {
    const t = this.tasks.get(task);
    if (t !== undefined) {
      this.last(t);
      this.tasks.delete(task);
    }
    this.out.taskEnded?.(task);
  }

  get tasksKept(): number {
    return this.tasks.size;
  }

  /** End of the stream: every task's last minute and its whole-run ratio. */
  finish(): void {
    for (const t of this.tasks.values()) this.last(t);
    this.tasks.clear();
  }
}
