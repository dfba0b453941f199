import type { Endpoint, Family, ObjectType, ObjectView, ObjId } from '../schema/event.js';
import { OldestFirst } from '../util/oldest-first.js';

/** A kernel object some descriptor points at (file, pipe, socket, memfd...). */
export interface KernelObject {
  id: ObjId;
  type: ObjectType;
  path?: string;
  /** The first name of the file when `path` is a later one (a link or rename seen, or an open under another name). */
  aka?: string;
  family?: Family;
  sockType?: number;
  local?: Endpoint;
  peer?: Endpoint;
  /** The other end of a connected unix socket or socketpair. */
  peerId?: ObjId;
  /** A socket made by accept(2): the server's end of a connection. */
  accepted?: boolean;
  /** Number of fd entries (in any process) that point at this object. */
  refs: number;
  /** Bumped on every change so cached views know they are stale. */
  version: number;
}

const NO_CHANNELS: string[] = [];
/** Objects kept after their last descriptor closed, for io_uring ops on registered files (see `recent`). */
const MAX_RELEASED = 4096;

/** Channel: the conduit data moves through. Both ends of a pipe share the pipe; connected unix sockets share the pair. */
export function channelOf(o: KernelObject): string {
  if (o.peerId !== undefined) return o.id < o.peerId ? `pair:${o.id}|${o.peerId}` : `pair:${o.peerId}|${o.id}`;
  return `${o.type}:${o.id}`;
}

/**
 * All kernel objects referenced by live descriptors of one state instance.
 * Objects whose last descriptor closes are evicted (bounded memory); their
 * identity is the kernel's, so a later open of the same inode maps back to
 * the same id.
 */
export class ObjectTable {
  private readonly objects = new Map<ObjId, KernelObject>();
  /** The last MAX_RELEASED objects evicted, newest last. */
  private readonly released = new Map<ObjId, KernelObject>();
  private readonly releasedOrder = new OldestFirst(this.released);
  private synthetic = 0;
  /** When set, channels that lose their last descriptor are collected for `takeGone` (the flow tracker's dormant marks). */
  collectGone = false;
  private gone: string[] = [];

  get size(): number {
    return this.objects.size;
  }

  /**
   * A live object, or one whose last descriptor closed recently: a file
   * registered with an io_uring ring stays usable through the ring after
   * its descriptor is closed, and ring ops name objects, not descriptors.
   */
  recent(id: ObjId): KernelObject | undefined {
    return this.objects.get(id) ?? this.released.get(id);
  }

  get(id: ObjId): KernelObject | undefined {
    return this.objects.get(id);
  }

  /** Returns the object, creating it with `init` when new; `init` fields fill gaps in a known object. */
  upsert(id: ObjId, init: Partial<Omit<KernelObject, 'id' | 'refs' | 'version'>> & { type: ObjectType }): KernelObject {
    let o = this.objects.get(id);
    if (o === undefined) {
      // every field from the start (undefined until known): one hidden class for all objects, plain stores
      o = {
        id,
        type: init.type,
        path: init.path,
        aka: init.aka,
        family: init.family,
        sockType: init.sockType,
        local: init.local,
        peer: init.peer,
        peerId: init.peerId,
        accepted: init.accepted,
        refs: 0,
        version: 0,
      };
      this.objects.set(id, o);
      return o;
    }
    let changed = false;
    if (o.type === 'unknown' && init.type !== 'unknown') {
      o.type = init.type;
      changed = true;
    }
    // fill gaps only, field by field (plain stores)
    if (init.path !== undefined && o.path === undefined) {
      o.path = init.path;
      changed = true;
    }
    if (init.family !== undefined && o.family === undefined) {
      o.family = init.family;
      changed = true;
    }
    if (init.sockType !== undefined && o.sockType === undefined) {
      o.sockType = init.sockType;
      changed = true;
    }
    if (init.local !== undefined && o.local === undefined) {
      o.local = init.local;
      changed = true;
    }
    if (init.peer !== undefined && o.peer === undefined) {
      o.peer = init.peer;
      changed = true;
    }
    if (init.peerId !== undefined && o.peerId === undefined) {
      o.peerId = init.peerId;
      changed = true;
    }
    if (init.accepted !== undefined && o.accepted === undefined) {
      o.accepted = init.accepted;
      changed = true;
    }
    if (changed) o.version++;
    return o;
  }

  /** An id for an object the kernel gave no identity for (e.g. a /proc entry that could not be stat'ed). */
  syntheticId(): ObjId {
    this.synthetic++;
    return `0:0:${this.synthetic}`;
  }

  update(o: KernelObject, patch: Partial<Pick<KernelObject, 'path' | 'aka' | 'local' | 'peer' | 'peerId' | 'family'>>): void {
    Object.assign(o, patch);
    o.version++;
  }

  link(a: KernelObject, b: KernelObject): void {
    if (a.peerId === b.id && b.peerId === a.id) return;
    a.peerId = b.id;
    b.peerId = a.id;
    a.version++;
    b.version++;
  }

  ref(o: KernelObject): void {
    o.refs++;
  }

  /** Drops one reference to the object of id (SCM_RIGHTS in flight hold theirs by id). */
  unref(id: ObjId): void {
    const o = this.objects.get(id);
    if (o !== undefined) this.release(o);
  }

  /** Drops one reference to o; the last one evicts it. */
  release(o: KernelObject): void {
    if (this.objects.get(o.id) !== o) return;
    const id = o.id;
    o.refs--;
    if (o.refs > 0) return;
    this.objects.delete(id);
    this.released.delete(id);
    this.released.set(id, o);
    if (this.released.size > MAX_RELEASED) this.releasedOrder.evict();
    // a pipe, a socket (a pair once both ends are gone) or a memfd no descriptor points at: nothing can read it again
    // through a descriptor we watch; a file keeps its content and can be opened again
    if (this.collectGone && (o.type === 'pipe' || o.type === 'socket' || o.type === 'memfd') && (o.peerId === undefined || !this.objects.has(o.peerId))) {
      this.gone.push(channelOf(o));
    }
  }

  /** Channels that lost their last descriptor since the last call (empty unless `collectGone`). */
  takeGone(): string[] {
    if (this.gone.length === 0) return NO_CHANNELS;
    const g = this.gone;
    this.gone = [];
    return g;
  }

  view(o: KernelObject, flags: number | undefined, cloexec: boolean): ObjectView {
    const v: ObjectView = { id: o.id, type: o.type, channel: channelOf(o) };
    if (o.path !== undefined) v.path = o.path;
    if (o.aka !== undefined) v.aka = o.aka;
    if (flags !== undefined) v.flags = flags;
    v.cloexec = cloexec;
    if (o.family !== undefined) v.family = o.family;
    if (o.sockType !== undefined) v.sock_type = o.sockType;
    if (o.accepted === true) v.accepted = true;
    if (o.local !== undefined) v.local = o.local;
    if (o.peer !== undefined) v.peer = o.peer;
    return v;
  }
}
