/**
 * x86_64 syscall numbers for the syscalls the probes report by number
 * (`args->__syscall_nr`). The probes print numbers, not names, to keep
 * records small; the decoder names them with this table.
 */
export const X86_64_SYSCALLS: Readonly<Record<number, string>> = {
  0: 'read', 1: 'write', 2: 'open', 3: 'close', 9: 'mmap', 16: 'ioctl', 17: 'pread64', 18: 'pwrite64',
  19: 'readv', 20: 'writev', 22: 'pipe', 32: 'dup', 33: 'dup2', 40: 'sendfile',
  41: 'socket', 42: 'connect', 43: 'accept', 44: 'sendto', 45: 'recvfrom',
  46: 'sendmsg', 47: 'recvmsg', 49: 'bind', 53: 'socketpair', 59: 'execve',
  72: 'fcntl', 80: 'chdir', 81: 'fchdir', 82: 'rename', 85: 'creat', 86: 'link',
  87: 'unlink', 88: 'symlink', 257: 'openat', 263: 'unlinkat', 264: 'renameat',
  265: 'linkat', 266: 'symlinkat', 275: 'splice', 276: 'tee', 278: 'vmsplice', 288: 'accept4',
  292: 'dup3', 293: 'pipe2', 295: 'preadv', 296: 'pwritev', 299: 'recvmmsg',
  304: 'open_by_handle_at', 307: 'sendmmsg', 310: 'process_vm_readv', 311: 'process_vm_writev', 316: 'renameat2', 319: 'memfd_create', 322: 'execveat',
  326: 'copy_file_range', 327: 'preadv2', 328: 'pwritev2', 436: 'close_range',
  240: 'mq_open', 242: 'mq_timedsend', 243: 'mq_timedreceive',
  437: 'openat2', 188: 'setxattr', 189: 'lsetxattr', 190: 'fsetxattr', 191: 'getxattr', 192: 'lgetxattr', 193: 'fgetxattr', 463: 'setxattrat', 464: 'getxattrat',
};

/**
 * io_uring opcodes (include/uapi/linux/io_uring.h, a stable ABI). The probe
 * reports a ring op it follows in the record of the syscall it stands for,
 * with 1000 + opcode as the syscall number: the event's syscall is then
 * `io_uring.NAME`.
 */
export const IO_URING_OPS: readonly string[] = [
  'nop', 'readv', 'writev', 'fsync', 'read_fixed', 'write_fixed', 'poll_add', 'poll_remove', 'sync_file_range', 'sendmsg',
  'recvmsg', 'timeout', 'timeout_remove', 'accept', 'async_cancel', 'link_timeout', 'connect', 'fallocate', 'openat', 'close',
  'files_update', 'statx', 'read', 'write', 'fadvise', 'madvise', 'send', 'recv', 'openat2', 'epoll_ctl',
  'splice', 'provide_buffers', 'remove_buffers', 'tee', 'shutdown', 'renameat', 'unlinkat', 'mkdirat', 'symlinkat', 'linkat',
  'msg_ring', 'fsetxattr', 'setxattr', 'fgetxattr', 'getxattr', 'socket', 'uring_cmd', 'send_zc', 'sendmsg_zc', 'read_multishot',
  'waitid', 'futex_wait', 'futex_wake', 'futex_waitv', 'fixed_fd_install', 'ftruncate', 'bind', 'listen', 'recv_zc', 'epoll_wait',
  'readv_fixed', 'writev_fixed',
];
export const IO_URING_BASE = 1000;

export function uringOpName(op: number): string {
  return IO_URING_OPS[op] ?? `op_${op}`;
}

export function syscallName(nr: number): string {
  if (nr >= IO_URING_BASE && nr < IO_URING_BASE + 256) return `io_uring.${uringOpName(nr - IO_URING_BASE)}`;
  return X86_64_SYSCALLS[nr] ?? `syscall_${nr}`;
}

/**
 * i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl) of the calls
 * that move data, make descriptors or run programs: the ones worth naming
 * when a watched thread makes 32-bit syscalls the tracepoints do not see.
 */
const I386_SYSCALLS: Record<number, string> = {
  3: 'read', 4: 'write', 5: 'open', 6: 'close', 8: 'creat', 9: 'link', 10: 'unlink', 11: 'execve', 38: 'rename', 41: 'dup',
  42: 'pipe', 63: 'dup2', 83: 'symlink', 90: 'mmap', 102: 'socketcall', 120: 'clone', 145: 'readv', 146: 'writev', 180: 'pread64',
  181: 'pwrite64', 187: 'sendfile', 190: 'vfork', 192: 'mmap2', 239: 'sendfile64', 295: 'openat', 313: 'splice', 330: 'dup3',
  331: 'pipe2', 333: 'preadv', 334: 'pwritev', 356: 'memfd_create', 358: 'execveat', 359: 'socket', 360: 'socketpair', 361: 'bind',
  362: 'connect', 364: 'accept4', 369: 'sendto', 370: 'sendmsg', 371: 'recvfrom', 372: 'recvmsg', 377: 'copy_file_range',
  437: 'openat2',
};

/** The name of a 32-bit (ia32) syscall: `ia32.read`, or `ia32.N` for one not in the table. */
export function ia32SyscallName(nr: number): string {
  return `ia32.${I386_SYSCALLS[nr] ?? nr}`;
}
