import type { ObjectView, ObjId } from '../schema/event.js';
import type { Handler } from './handler.js';
import type { StateCore } from './state-core.js';

/**
 * A shared mapping: a file's (or memfd's) is resolved like any descriptor
 * (its object and open flags, which say whether it can be made writable);
 * an anonymous one gets an identity of its own, and a System V segment one
 * per IPC namespace and id, with no entry in the object table (no descriptor points at it; the mappers are the flow tracker's
 * business).
 */
export const onMap: Handler<'mem.map'> = (st, ev, p) => {
  if (ev.fd >= 0) {
    const v = st.resolveFd(p, ev.fd, ev.obj);
    return v && { res: { fd: v } };
  }
  const id = ev.shmid === undefined ? st.objects.syntheticId() : segmentId(st, `${ev.ipc_ns ?? 0}:${ev.shmid}`);
  const v: ObjectView = { id, type: 'shm', channel: `shm:${id}` };
  return { res: { fd: v } };
};

/** System V segments named at once (a host runs a few dozen; far more is churn, and the oldest go). */
const MAX_SEGMENTS = 65_536;

/** One identity per System V segment (namespace and id), whoever attaches it. */
function segmentId(st: StateCore, key: string): ObjId {
  let id = st.sysvSegments.get(key);
  if (id === undefined) {
    id = st.objects.syntheticId();
    if (st.sysvSegments.size >= MAX_SEGMENTS) st.sysvSegmentsOrder.evict();
    st.sysvSegments.set(key, id);
  }
  return id;
}

export const onUnmap: Handler<'mem.unmap'> = () => undefined;
export const onRemap: Handler<'mem.remap'> = () => undefined;
