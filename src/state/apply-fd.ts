import type { ObjectView } from '../schema/event.js';
import type { Handler, Resolution } from './handler.js';
import { O_CLOEXEC } from './state-core.js';

const F_DUPFD_CLOEXEC = 1030;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const CLOSE_RANGE_UNSHARE = 2;
const CLOSE_RANGE_CLOEXEC = 4;
const EBADF = -9;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;

export const onDup: Handler<'fd.dup'> = (st, ev, p): Resolution | undefined => {
  const before = st.viewOf(p.fds, ev.oldfd);
  if (ev.ret < 0) return before === undefined ? undefined : { res: { oldfd: before } };
  const e = p.fds.get(ev.oldfd);
  if (e === undefined) {
    // dup of a descriptor we never saw: the new fd is unknown too
    st.release(p.fds, ev.ret);
    st.stats.unresolved++;
    return;
  }
  if (ev.ret !== ev.oldfd) st.install(p.fds, ev.ret, e.obj, e.flags, (ev.flags & O_CLOEXEC) !== 0);
  const after = st.viewOf(p.fds, ev.ret)!;
  return { res: { oldfd: before!, ret: after } };
};

export const onFcntl: Handler<'fd.fcntl'> = (st, ev, p): Resolution | undefined => {
  if (ev.ret < 0) return;
  const e = p.fds.get(ev.fd);
  if (ev.cmd === F_SETFD) {
    if (e !== undefined) {
      e.cloexec = (ev.arg & FD_CLOEXEC) !== 0;
      e.view = undefined;
    }
    const v = st.viewOf(p.fds, ev.fd);
    return v === undefined ? undefined : { res: { fd: v } };
  }
  // F_DUPFD / F_DUPFD_CLOEXEC
  if (e === undefined) {
    st.stats.unresolved++;
    return;
  }
  st.install(p.fds, ev.ret, e.obj, e.flags, ev.cmd === F_DUPFD_CLOEXEC);
  return { res: { fd: st.viewOf(p.fds, ev.fd)!, ret: st.viewOf(p.fds, ev.ret)! } };
};

export const onClose: Handler<'fd.close'> = (st, ev, p) => {
  const v = st.viewOf(p.fds, ev.fd);
  // close(2) releases the descriptor even when it reports an error, except EBADF
  if (ev.ret !== EBADF) st.release(p.fds, ev.fd);
  return v && { res: { fd: v } };
};

export const onCloseRange: Handler<'fd.close_range'> = (st, ev, p) => {
  if (ev.ret !== 0) return;
  if ((ev.flags & CLOSE_RANGE_UNSHARE) !== 0) st.unshareFds(p);
  for (const fd of [...p.fds.entries.keys()]) {
    if (fd < ev.first || fd > ev.last) continue;
    if ((ev.flags & CLOSE_RANGE_CLOEXEC) !== 0) {
      const e = p.fds.get(fd)!;
      e.cloexec = true;
      e.view = undefined;
    } else {
      st.release(p.fds, fd);
    }
  }
};

export const onPipe: Handler<'fd.pipe'> = (st, ev, p) => {
  if (ev.ret !== 0 || ev.obj === null) return;
  const o = st.objects.upsert(ev.obj, { type: 'pipe' });
  const cloexec = (ev.flags & O_CLOEXEC) !== 0;
  st.install(p.fds, ev.fds[0], o, O_RDONLY, cloexec);
  st.install(p.fds, ev.fds[1], o, O_WRONLY, cloexec);
  return { res: { read: st.viewOf(p.fds, ev.fds[0])!, write: st.viewOf(p.fds, ev.fds[1])! } };
};

const SOCK_CLOEXEC = O_CLOEXEC;
const SOCK_TYPE_MASK = 0xf;

export const onSocket: Handler<'fd.socket'> = (st, ev, p) => {
  if (ev.ret < 0 || ev.obj === null) return;
  const o = st.objects.upsert(ev.obj, { type: 'socket', family: ev.family, sockType: ev.sock_type & SOCK_TYPE_MASK });
  st.install(p.fds, ev.ret, o, O_RDWR, (ev.sock_type & SOCK_CLOEXEC) !== 0);
  const v = st.viewOf(p.fds, ev.ret);
  return v && { res: { ret: v } };
};

export const onSocketpair: Handler<'fd.socketpair'> = (st, ev, p) => {
  const [ia, ib] = ev.objs;
  if (ev.ret !== 0 || ia === null || ib === null) return;
  const init = { type: 'socket' as const, family: ev.family, sockType: ev.sock_type & SOCK_TYPE_MASK };
  const a = st.objects.upsert(ia, init);
  const b = st.objects.upsert(ib, init);
  st.objects.link(a, b);
  const cloexec = (ev.sock_type & SOCK_CLOEXEC) !== 0;
  st.install(p.fds, ev.fds[0], a, O_RDWR, cloexec);
  st.install(p.fds, ev.fds[1], b, O_RDWR, cloexec);
  return { res: { fd0: st.viewOf(p.fds, ev.fds[0])!, fd1: st.viewOf(p.fds, ev.fds[1])! } };
};

const INFLIGHT_MAX = 65536;

/**
 * SCM_RIGHTS. Sending leaves the sender's table unchanged; the object in
 * flight keeps a reference (the sender may exit before the receiver reads
 * the message) together with the open flags that went with it. Receiving
 * installs a descriptor in the receiver pointing at the kernel object the
 * probe read from the receiver's own table.
 */
/**
 * pidfd_getfd: the new descriptor points at what the target's descriptor
 * points at (with its open flags, when the state knows it), close-on-exec
 * as the kernel makes it; the kernel's identity decides when the two
 * disagree (the target's table changed unseen).
 */
export const onGetfd: Handler<'fd.getfd'> = (st, ev, p) => {
  const res: Record<string, ObjectView> = {};
  const pidfd = st.viewOf(p.fds, ev.pidfd);
  if (pidfd !== undefined) res.pidfd = pidfd;
  if (ev.ret < 0) return { res };
  const theirs = ev.target >= 0 ? st.procs.get(ev.target)?.fds.get(ev.target_fd) : undefined;
  const same = theirs !== undefined && (ev.obj === null || theirs.obj.id === ev.obj);
  const o = same ? theirs.obj : ev.obj === null ? undefined : st.objectOf(ev.obj);
  if (o === undefined) return { res };
  st.install(p.fds, ev.ret, o, same ? theirs.flags : undefined, true);
  res.ret = st.viewOf(p.fds, ev.ret)!;
  return { res };
};

export const onRights: Handler<'fd.rights'> = (st, ev, p) => {
  const sock = st.viewOf(p.fds, ev.sock_fd);
  const res: Record<string, ObjectView> = {};
  if (sock !== undefined) res.sock_fd = sock;
  if (ev.dir === 'send') {
    const v = st.resolveFd(p, ev.fd, ev.obj);
    if (v !== undefined) {
      res.fd = v;
      if (!st.inflight.has(v.id)) {
        if (st.inflight.size >= INFLIGHT_MAX) {
          st.objects.unref(st.inflightOrder.evict()![0]);
        }
        st.objects.ref(st.objects.get(v.id)!);
      }
      st.inflight.set(v.id, { flags: v.flags });
    }
    return { res };
  }
  if (ev.fd < 0 || ev.obj === null) return { res };
  // a socket passed in from outside the watch: the kernel says which family (an inet one may leave the machine)
  const o = st.objects.upsert(ev.obj, ev.family !== undefined ? { type: 'socket', family: ev.family } : { type: 'unknown' });
  const sent = st.inflight.get(ev.obj);
  st.install(p.fds, ev.fd, o, sent?.flags, ev.cloexec === true);
  if (sent !== undefined) {
    st.inflight.delete(ev.obj);
    st.objects.unref(ev.obj);
  }
  res.fd = st.viewOf(p.fds, ev.fd)!;
  return { res };
};
