import type { ObjectView } from '../schema/event.js';
import type { Handler } from './handler.js';

export const onIo: Handler<'io'> = (st, ev, p) => {
  const v = st.resolveFd(p, ev.fd, ev.obj);
  return v && { res: { fd: v } };
};

export const onXfer: Handler<'io.xfer'> = (st, ev, p) => {
  const res: Record<string, ObjectView> = {};
  const vin = st.resolveFd(p, ev.fd_in, ev.obj_in);
  const vout = st.resolveFd(p, ev.fd_out, ev.obj_out);
  if (vin !== undefined) res.fd_in = vin;
  if (vout !== undefined) res.fd_out = vout;
  return { res };
};
