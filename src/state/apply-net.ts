import type { ObjectView } from '../schema/event.js';
import type { Handler } from './handler.js';

const EINPROGRESS = -115;

/** connect/bind: the socket learns its peer or local address; a connected unix socket is linked to its peer. */
export const onAddr: Handler<'net.addr'> = (st, ev, p) => {
  const ok = ev.ret === 0 || (ev.op === 'connect' && ev.ret === EINPROGRESS);
  const before = st.resolveFd(p, ev.fd, ev.obj, 'socket');
  if (!ok || before === undefined) return before && { res: { fd: before } };
  const o = st.objects.recent(before.id)!;
  const ep = ev.family === 'unix' ? { path: ev.path ?? '' } : { addr: ev.addr ?? '', port: ev.port ?? 0 };
  st.objects.update(o, { family: ev.family, ...(ev.op === 'connect' ? { peer: ep } : { local: ep }) });
  if (ev.peer_obj !== null) {
    const peer = st.objects.upsert(ev.peer_obj, { type: 'socket', family: 'unix' });
    st.objects.link(o, peer);
  }
  return { res: { fd: (ev.fd < 0 ? st.objectView(ev.obj) : st.viewOf(p.fds, ev.fd))! } };
};

const O_RDWR = 2;

export const onAccept: Handler<'net.accept'> = (st, ev, p) => {
  const listener = st.viewOf(p.fds, ev.listen_fd);
  const res: Record<string, ObjectView> = {};
  if (listener !== undefined) res.listen_fd = listener;
  if (ev.ret < 0 || ev.obj === null) return { res };
  const family = ev.family ?? listener?.family;
  const o = st.objects.upsert(ev.obj, {
    type: 'socket',
    accepted: true,
    ...(family !== undefined && { family }),
    ...(listener?.sock_type !== undefined && { sockType: listener.sock_type }),
  });
  if (ev.peer_addr !== undefined) {
    st.objects.update(o, {
      peer: { addr: ev.peer_addr, port: ev.peer_port ?? 0 },
      local: { addr: listener?.local?.addr ?? '', port: ev.local_port ?? listener?.local?.port ?? 0 },
    });
  } else if (listener?.local?.path !== undefined) {
    st.objects.update(o, { local: { path: listener.local.path } });
  }
  if (ev.peer_obj !== null) st.objects.link(o, st.objects.upsert(ev.peer_obj, { type: 'socket', family: 'unix' }));
  st.install(p.fds, ev.ret, o, O_RDWR, false);
  res.ret = st.viewOf(p.fds, ev.ret)!;
  return { res };
};

/** A datagram's explicit destination: the socket's peer is the last destination. */
export const onDest: Handler<'net.dest'> = (st, ev, p) => {
  // an io_uring send names its socket by kernel identity (fd -1)
  const ring = ev.fd < 0;
  const e = ring ? undefined : p.fds.get(ev.fd);
  const o = ring ? (ev.obj === undefined ? undefined : st.objects.recent(ev.obj)) : e?.obj;
  if (o !== undefined && ev.ret >= 0) {
    const ep = ev.family === 'unix' ? { path: ev.path ?? '' } : { addr: ev.addr ?? '', port: ev.port ?? 0 };
    st.objects.update(o, { peer: ep });
  }
  if (ring) {
    const v = st.objectView(ev.obj ?? null);
    return v && { res: { fd: v } };
  }
  const v = st.viewOf(p.fds, ev.fd);
  if (v === undefined) st.stats.unresolved++;
  return v && { res: { fd: v } };
};
