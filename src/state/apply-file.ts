import type { FileType, ObjectType } from '../schema/event.js';
import type { Handler, Resolution } from './handler.js';
import { O_CLOEXEC } from './state-core.js';

const OBJECT_TYPE_OF_FILE: Record<FileType, ObjectType> = {
  file: 'file', dir: 'dir', chr: 'device', blk: 'device', fifo: 'pipe', sock: 'socket', link: 'file', unknown: 'unknown',
};

export const onOpen: Handler<'file.open'> = (st, ev, p) => {
  // an empty path: an io_uring open whose path was not seen (no open(2) accepts one)
  const asked = ev.path === '' ? undefined : st.absPath(p, ev.dirfd, ev.path);
  const r: Resolution = {};
  const name = ev.real_path ?? asked;
  // the first name of what was opened, when a link or rename seen gave it this one
  const first = name === undefined || ev.path_truncated ? undefined : st.earlierNames.firstNameOf(name);
  if (asked !== undefined) r.abs = ev.real_path !== undefined ? { path: asked, real: ev.real_path } : { path: asked };
  // opened with no path (by a handle): the file it reached, if its descriptor named it
  else if (ev.real_path !== undefined) r.abs = { real: ev.real_path };
  if (r.abs !== undefined && first !== undefined) r.abs.aka = first;
  if (ev.ret < 0 || ev.obj === null) return r;
  const o = st.objects.upsert(ev.obj, { type: OBJECT_TYPE_OF_FILE[ev.file_type] });
  // a path learnt from a complete (not cut) open names the object (the resolved one: a symlink is not the file); renames update it
  if (name !== undefined && !ev.path_truncated && o.path !== name && (o.type === 'file' || o.type === 'dir' || o.type === 'device' || o.type === 'pipe')) {
    // the same file open under another name (a hard link): it keeps its first name
    const aka = first ?? o.aka ?? (o.type === 'file' ? o.path : undefined);
    st.objects.update(o, { path: name, aka: aka !== name ? aka : undefined });
  } else if (first !== undefined && o.aka === undefined) {
    st.objects.update(o, { aka: first });
  }
  st.install(p.fds, ev.ret, o, ev.flags & ~O_CLOEXEC, (ev.flags & O_CLOEXEC) !== 0);
  const v = st.viewOf(p.fds, ev.ret);
  if (v !== undefined) r.res = { ret: v };
  return r;
};

const MFD_CLOEXEC = 1;
const O_RDWR = 2;

export const onMemfd: Handler<'file.memfd'> = (st, ev, p) => {
  if (ev.ret < 0 || ev.obj === null) return;
  const o = st.objects.upsert(ev.obj, { type: 'memfd', path: `memfd:${ev.name}` });
  st.install(p.fds, ev.ret, o, O_RDWR, (ev.flags & MFD_CLOEXEC) !== 0);
  const v = st.viewOf(p.fds, ev.ret);
  return v && { res: { ret: v } };
};

export const onPath2: Handler<'file.path2'> = (st, ev, p) => {
  const oldAbs = ev.op === 'symlink' ? undefined : st.absPath(p, ev.old_dirfd, ev.old_path);
  const newAbs = st.absPath(p, ev.new_dirfd, ev.new_path);
  const abs: Record<string, string> = {};
  if (oldAbs !== undefined) abs.old_path = oldAbs;
  if (newAbs !== undefined) abs.new_path = newAbs;
  if (ev.ret === 0 && oldAbs !== undefined && newAbs !== undefined) {
    if (ev.op === 'link') st.earlierNames.linked(oldAbs, newAbs);
    else if (ev.op === 'rename') {
      st.earlierNames.renamed(oldAbs, newAbs);
      // the object keeps its identity; only its name changes (staging: cp secret /tmp/x; mv /tmp/x /tmp/y)
      for (const fdEntry of p.fds.entries.values()) {
        const o = fdEntry.obj;
        if (o.path === oldAbs) st.objects.update(o, { path: newAbs, aka: o.aka ?? oldAbs });
      }
    }
  }
  return { abs };
};

/** An extended attribute set or read: a descriptor's own (resolved like I/O on it), or a path's (made absolute). */
export const onXattr: Handler<'file.xattr'> = (st, ev, p) => {
  if (ev.path === '') {
    const v = ev.fd >= 0 ? st.resolveFd(p, ev.fd, ev.obj, 'file') : undefined;
    return v === undefined ? undefined : { res: { fd: v } };
  }
  const abs = st.absPath(p, ev.fd, ev.path);
  return abs === undefined ? undefined : { abs: { path: abs } };
};

export const onUnlink: Handler<'file.unlink'> = (st, ev, p) => {
  const abs = st.absPath(p, ev.dirfd, ev.path);
  if (abs !== undefined && ev.ret === 0) st.earlierNames.unlinked(abs);
  return abs === undefined ? undefined : { abs: { path: abs } };
};

export const onSnapshotFd: Handler<'snapshot.fd'> = (st, ev, p) => {
  const id = ev.obj ?? st.objects.syntheticId();
  const path = ev.path ?? (ev.object_type === 'file' || ev.object_type === 'dir' || ev.object_type === 'device' ? ev.target : undefined);
  const o = st.objects.upsert(id, {
    type: ev.object_type,
    ...(path !== undefined && { path }),
    ...(ev.aka !== undefined && { aka: ev.aka }),
    ...(ev.family !== undefined && { family: ev.family }),
    ...(ev.sock_type !== undefined && { sockType: ev.sock_type }),
    ...(ev.accepted && { accepted: true }),
    ...(ev.local !== undefined && { local: ev.local }),
    ...(ev.peer !== undefined && { peer: ev.peer }),
  });
  if (ev.peer_obj) {
    const peer = st.objects.upsert(ev.peer_obj, { type: 'socket', family: 'unix' });
    st.objects.link(o, peer);
  }
  st.install(p.fds, ev.fd, o, ev.flags_unknown ? undefined : ev.flags & ~O_CLOEXEC, (ev.flags & O_CLOEXEC) !== 0);
  const v = st.viewOf(p.fds, ev.fd);
  return v && { res: { fd: v } };
};
