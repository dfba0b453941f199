import type { ObjectView } from '../schema/event.js';
import type { Handler } from './handler.js';

/**
 * A shared mapping: a file's (or memfd's) is resolved like any descriptor
 * (its object and open flags, which say whether it can be made writable);
 * an anonymous one gets an identity of its own, with no entry in the object
 * table (no descriptor points at it; the mappers are the flow tracker's
 * business).
 */
export const onMap: Handler<'mem.map'> = (st, ev, p) => {
  if (ev.fd >= 0) {
    const v = st.resolveFd(p, ev.fd, ev.obj);
    return v && { res: { fd: v } };
  }
  const id = st.objects.syntheticId();
  const v: ObjectView = { id, type: 'shm', channel: `shm:${id}` };
  return { res: { fd: v } };
};

export const onUnmap: Handler<'mem.unmap'> = () => undefined;
export const onRemap: Handler<'mem.remap'> = () => undefined;
