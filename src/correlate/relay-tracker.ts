import type { z } from 'zod';
import type { ChainHop } from '../schema/finding.js';
import type { ShellRelayFields } from '../schema/rule-fields.js';
import type { Event, EventOf, ObjectView } from '../schema/event.js';
import { describeObject } from './describe-object.js';
import type { RuleInput } from './sequence-matcher.js';
import { OldestFirst } from '../util/oldest-first.js';

/**
 * Relayed shells (`ncat -e`, `socat … EXEC:/bin/sh`): the shell never holds
 * the socket; another process reads the network and writes into a pipe or
 * socketpair that the shell reads as its standard input. The tracker notes
 * which processes read from inet sockets, which pipe/socketpair channels
 * such a process writes into, and reports a `flow.shell_relay` fact when a
 * shell reads its fd 0 from such a channel. Rules decide (and may exempt
 * relays such as sshd by executable).
 */
export type ShellRelayFact = z.infer<typeof ShellRelayFields>;

const SHELLS = /(^|\/)(sh|bash|dash|zsh|ksh|mksh|fish|busybox)$/;
const MAX = 50_000;

interface NetRead {
  socket: ObjectView;
  hop: ChainHop;
  comm: string;
  exe: string | undefined;
}

export class RelayTracker {
  private readonly netReaders = new Map<number, NetRead>();
  private readonly netReadersOrder = new OldestFirst(this.netReaders);
  /** channel → the net reader feeding it, and the hop that did. */
  private readonly fedByNet = new Map<string, { pid: number; read: NetRead; hop: ChainHop }>();
  private readonly fedByNetOrder = new OldestFirst(this.fedByNet);
  private readonly shells = new Map<number, string>();
  private readonly reported = new Set<number>();

  observe(ev: Event): ShellRelayFact[] {
    switch (ev.kind) {
      case 'process.exec':
        if (SHELLS.test(ev.filename)) this.shells.set(ev.pid, ev.filename);
        else this.shells.delete(ev.pid);
        return [];
      case 'process.exit':
        if (ev.group_dead) {
          this.shells.delete(ev.pid);
          this.netReaders.delete(ev.pid);
          this.reported.delete(ev.pid);
        }
        return [];
      case 'io':
        return ev.dir === 'in' ? this.onRead(ev) : this.onWrite(ev);
      default:
        return [];
    }
  }

  /** A channel closed for good (see FlowTracker.channelGone): no shell can be fed through it any more. */
  channelGone(channel: string): void {
    this.fedByNet.delete(channel);
  }

  private onRead(ev: EventOf<'io'>): ShellRelayFact[] {
    const v = ev.res?.fd;
    if (v === undefined) return [];
    if (v.type === 'socket' && (v.family === 'inet' || v.family === 'inet6') && v.peer !== undefined) {
      // at the bound the oldest entry goes (a Map keeps insertion order), not all of them
      if (this.netReaders.size >= MAX && !this.netReaders.has(ev.pid)) this.netReadersOrder.evict();
      this.netReaders.set(ev.pid, { socket: v, hop: hopOf(ev, v), comm: ev.proc?.comm ?? '?', exe: ev.proc?.exe });
      return [];
    }
    if (ev.fd !== 0 || this.reported.has(ev.pid)) return [];
    const shell = this.shells.get(ev.pid);
    const fed = shell !== undefined && (v.type === 'pipe' || (v.type === 'socket' && v.family === 'unix')) ? this.fedByNet.get(v.channel) : undefined;
    if (fed === undefined || fed.pid === ev.pid) return [];
    this.reported.add(ev.pid);
    return [
      {
        kind: 'flow.shell_relay',
        ts: ev.ts,
        pid: ev.pid,
        tid: ev.tid,
        proc: ev.proc,
        chain_key: `relay|${ev.proc?.task ?? ''}|${fed.read.socket.channel}`,
        shell: shell!,
        relay_pid: fed.pid,
        relay_comm: fed.read.comm,
        relay_exe: fed.read.exe,
        socket: fed.read.socket,
        hops: [fed.read.hop, fed.hop, hopOf(ev, v)],
        event: ev,
      },
    ];
  }

  private onWrite(ev: EventOf<'io'>): ShellRelayFact[] {
    const v = ev.res?.fd;
    const read = this.netReaders.get(ev.pid);
    if (v === undefined || read === undefined) return [];
    if (v.type === 'pipe' || (v.type === 'socket' && v.family === 'unix')) {
      if (this.fedByNet.size >= MAX && !this.fedByNet.has(v.channel)) this.fedByNetOrder.evict();
      this.fedByNet.set(v.channel, { pid: ev.pid, read, hop: hopOf(ev, v) });
    }
    return [];
  }
}

export function isShellRelayFact(x: RuleInput): x is ShellRelayFact {
  return x.kind === 'flow.shell_relay';
}

function hopOf(ev: EventOf<'io'>, v: ObjectView): ChainHop {
  return { pid: ev.pid, comm: ev.proc?.comm ?? '?', syscall: ev.syscall, fd: ev.fd, object: describeObject(v), ts_ns: ev.ts, bytes: ev.bytes };
}
