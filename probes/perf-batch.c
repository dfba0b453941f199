// chainwatch perf-batch: batched delivery of bpftrace's output records.
//
// Loaded into bpftrace (and nothing else) with LD_PRELOAD by
// src/source/bpftrace-process.ts; built by scripts/build-preloads.sh.
//
// Why: bpftrace 0.17 opens its per-CPU output buffers (perf events of type
// PERF_COUNT_SW_BPF_OUTPUT) with wakeup_events = 1, so every printf in a
// probe wakes the sleeping bpftrace process. The wake-up runs in the traced
// program's context, on its syscall path: measured here, ~15 us per record
// for tar over a loopback socket, which made watching cost more than the
// traced work itself. Tetragon and Falco avoid this by reading their ring
// buffers in batches; this does the same for bpftrace without patching it:
//
//  1. perf_event_open (through libc's syscall(), as libbcc calls it) of a
//     BPF output event: the wake-up is asked for only when the buffer holds
//     CHAINWATCH_BATCH_WATERMARK bytes (a quarter of the buffer by default),
//     so bursts still wake the reader early.
//  2. mmap of such an event: the address of its ring's control page is kept.
//  3. epoll_ctl adding such an event to bpftrace's epoll set: kept too.
//  4. epoll_wait on that set: instead of sleeping until a wake-up, returns
//     every output buffer that holds unread records (data_head != data_tail),
//     checking every CHAINWATCH_BATCH_POLL_US microseconds until bpftrace's
//     own timeout. bpftrace then reads them exactly as it would after a
//     wake-up. After 10 ms with nothing unread the checks slow down, to
//     half the quiet time and at most CHAINWATCH_BATCH_IDLE_MAX_US (8 ms by
//     default; 0 keeps every check at the poll interval), so an idle
//     bpftrace sleeps instead of waking 1,000 times a second; the first
//     record after a quiet spell waits at most that long, less than the
//     10 ms the delivery proof waits after any record, and checks are fast
//     again once it is read. A buffer with nothing unread is never reported, so bpftrace's
//     drain at exit ends as before; a signal interrupts the wait (EINTR) as
//     before.
//  5. bpftrace's standard output: bpftrace makes it line-buffered and ends
//     every record with std::endl, so one write(2) to chainwatch's socket per
//     record (a syscall, a socket buffer and a wake-up of the reader each:
//     ~40% of bpftrace's CPU, measured with perf while tar ran). stdout gets
//     a 64 KiB buffer instead of line buffering (bpftrace's `-B none`,
//     unbuffered, is left alone) and bpftrace's flushes of it are deferred: the buffer
//     is written when it is full, before every wait that would sleep (so a
//     record never waits for the next one: an idle bpftrace has written
//     everything it read), at least every poll interval while bpftrace
//     keeps reading, and at exit (glibc flushes stdio at exit). Lines may
//     be cut between two writes; the reader joins them. Should bpftrace
//     crash, what it printed in the last poll interval is lost with it (it
//     was bpftrace's to lose before too: records still in the kernel's
//     buffers). Off with CHAINWATCH_BATCH_STDOUT=0.
//  6. sigaction for SIGINT/SIGTERM: bpftrace's handler only sets a flag that
//     its poll loop looks at when epoll_wait fails with EINTR, so a stop
//     signal that arrives while bpftrace is reading (not waiting) would go
//     unnoticed; busy reading is the common case here, so the handler is
//     wrapped and the next wait reports EINTR.
//
// Nothing is dropped or reordered: records stay in the kernel's buffers until
// bpftrace reads them; at most one poll interval is added to their delivery.
// Lost-record reports (PERF_RECORD_LOST) travel in the same buffers.
// Anything this does not recognise passes through unchanged.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#define MAX_FD 4096

struct output {
  unsigned char is_output;        // fd is a BPF output perf event
  struct perf_event_mmap_page *page; // its ring's control page, once mapped
  int epfd_plus_1;                // the epoll set it was added to, + 1
  epoll_data_t data;              // what bpftrace registered with it
};

static struct output outputs[MAX_FD];
static long poll_us = 1000;
static long idle_max_us = 8000;  // the longest check interval once quiet (see epoll_wait)
#define QUIET_AFTER_US 10000L    // quiet this long before checks slow down
static struct timespec data_seen; // when a buffer last held unread records
static unsigned watermark_bytes = 65536;
static int configured;
static int fd_limit; // 1 + the highest output fd seen

static int hold_stdout = 1;     // defer bpftrace's fflush(stdout)
static int stdout_pending;      // a deferred flush is owed
static struct timespec stdout_flushed; // when stdout was last written

static volatile sig_atomic_t stop_pending;
static void (*bpftrace_stop_handler)(int);

static void stop_handler(int sig) {
  stop_pending = 1;
  if (bpftrace_stop_handler != NULL) bpftrace_stop_handler(sig);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
  if (real_sigaction == NULL) real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
  if (act != NULL && (sig == SIGINT || sig == SIGTERM) && !(act->sa_flags & SA_SIGINFO) && act->sa_handler != SIG_IGN &&
      act->sa_handler != SIG_DFL && act->sa_handler != stop_handler) {
    struct sigaction wrapped = *act;
    bpftrace_stop_handler = act->sa_handler;
    wrapped.sa_handler = stop_handler;
    return real_sigaction(sig, &wrapped, old);
  }
  return real_sigaction(sig, act, old);
}

/** A stop signal bpftrace has not seen as EINTR yet: reported once, as the interrupted wait it would have been. */
static int take_stop(void) {
  if (!stop_pending) return 0;
  stop_pending = 0;
  errno = EINTR;
  return 1;
}

static void configure(void) {
  if (configured) return;
  configured = 1;
  const char *p = getenv("CHAINWATCH_BATCH_POLL_US");
  const char *w = getenv("CHAINWATCH_BATCH_WATERMARK");
  const char *q = getenv("CHAINWATCH_BATCH_IDLE_MAX_US");
  if (p != NULL && atol(p) > 0) poll_us = atol(p);
  if (q != NULL && atol(q) >= 0) idle_max_us = atol(q);
  if (w != NULL && atol(w) > 0) watermark_bytes = (unsigned)atol(w);
}

static int (*real_fflush_fn)(FILE *);

static int real_fflush(FILE *f) {
  if (real_fflush_fn == NULL) real_fflush_fn = (int (*)(FILE *))dlsym(RTLD_NEXT, "fflush");
  return real_fflush_fn(f);
}

static long us_since(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t->tv_sec) * 1000000L + (now.tv_nsec - t->tv_nsec) / 1000;
}

/** Writes what bpftrace has printed and asked to flush. */
static void flush_stdout(void) {
  if (!stdout_pending) return;
  stdout_pending = 0;
  real_fflush(stdout);
  clock_gettime(CLOCK_MONOTONIC, &stdout_flushed);
  clock_gettime(CLOCK_MONOTONIC, &data_seen);
}

__attribute__((constructor)) static void buffer_stdout(void) {
  const char *h = getenv("CHAINWATCH_BATCH_STDOUT");
  if (h != NULL && h[0] == '0') hold_stdout = 0;
  // before bpftrace prints anything: a buffer of 64 KiB (glibc's default for a socket is 4 KiB)
  if (hold_stdout) setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  clock_gettime(CLOCK_MONOTONIC, &stdout_flushed);
  clock_gettime(CLOCK_MONOTONIC, &data_seen);
}

/** bpftrace makes stdout line-buffered (a write per record) unless `-B none`: held, it is fully buffered instead. */
int setvbuf(FILE *f, char *buf, int mode, size_t size) {
  static int (*real_setvbuf)(FILE *, char *, int, size_t);
  if (real_setvbuf == NULL) real_setvbuf = (int (*)(FILE *, char *, int, size_t))dlsym(RTLD_NEXT, "setvbuf");
  if (f == stdout && hold_stdout && mode == _IOLBF) return real_setvbuf(f, NULL, _IOFBF, 1 << 16);
  return real_setvbuf(f, buf, mode, size);
}

int fflush(FILE *f) {
  if (f == stdout && hold_stdout) {
    stdout_pending = 1;
    return 0;
  }
  return real_fflush(f);
}

long syscall(long nr, ...) {
  static long (*real_syscall)(long, ...);
  if (real_syscall == NULL) real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  // the x86-64 and arm64 calling conventions pass all six in registers: reading six is what glibc's syscall() does
  va_list ap;
  va_start(ap, nr);
  long a0 = va_arg(ap, long), a1 = va_arg(ap, long), a2 = va_arg(ap, long);
  long a3 = va_arg(ap, long), a4 = va_arg(ap, long), a5 = va_arg(ap, long);
  va_end(ap);
  int output = 0;
  if (nr == SYS_perf_event_open && a0 != 0) {
    struct perf_event_attr *attr = (struct perf_event_attr *)a0;
    if (attr->type == PERF_TYPE_SOFTWARE && attr->config == PERF_COUNT_SW_BPF_OUTPUT) {
      configure();
      attr->watermark = 1;
      attr->wakeup_watermark = watermark_bytes;
      output = 1;
    }
  }
  long r = real_syscall(nr, a0, a1, a2, a3, a4, a5);
  if (output && r >= 0 && r < MAX_FD) {
    outputs[r] = (struct output){ .is_output = 1 };
    if (r + 1 > fd_limit) fd_limit = (int)r + 1;
  }
  return r;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
  if (real_mmap == NULL) real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
  void *p = real_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED && fd >= 0 && fd < MAX_FD && outputs[fd].is_output && off == 0) {
    outputs[fd].page = (struct perf_event_mmap_page *)p;
  }
  return p;
}

int close(int fd) {
  static int (*real_close)(int);
  if (real_close == NULL) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
  if (fd >= 0 && fd < fd_limit) outputs[fd] = (struct output){ 0 };
  return real_close(fd);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  static int (*real_epoll_ctl)(int, int, int, struct epoll_event *);
  if (real_epoll_ctl == NULL) real_epoll_ctl = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
  int r = real_epoll_ctl(epfd, op, fd, ev);
  if (r == 0 && fd >= 0 && fd < MAX_FD && outputs[fd].is_output) {
    if (op == EPOLL_CTL_ADD && ev != NULL) {
      if (outputs[fd].page == NULL) {
        // without its control page this buffer could wait for a wake-up that comes only at the watermark
        fprintf(stderr, "chainwatch perf-batch: WARNING output buffer fd %d was not mapped through mmap(); its records may be delayed\n", fd);
      }
      outputs[fd].epfd_plus_1 = epfd + 1;
      outputs[fd].data = ev->data;
    } else if (op == EPOLL_CTL_DEL) {
      outputs[fd].epfd_plus_1 = 0;
    }
  }
  return r;
}

/** Output buffers of this epoll set holding unread records, as epoll would report them. */
static int unread(int epfd, struct epoll_event *events, int max, int *mine) {
  int n = 0;
  for (int fd = 0; fd < fd_limit; fd++) {
    struct output *o = &outputs[fd];
    if (o->epfd_plus_1 != epfd + 1) continue;
    *mine = 1;
    if (o->page == NULL) continue;
    uint64_t head = __atomic_load_n(&o->page->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&o->page->data_tail, __ATOMIC_ACQUIRE);
    if (head != tail && n < max) {
      events[n].events = EPOLLIN;
      events[n].data = o->data;
      n++;
    }
  }
  return n;
}

int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout) {
  static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
  if (real_epoll_wait == NULL) real_epoll_wait = (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT, "epoll_wait");
  int mine = 0;
  int n = unread(epfd, events, max, &mine);
  if (!mine) {
    flush_stdout();
    return real_epoll_wait(epfd, events, max, timeout);
  }
  long waited_us = 0;
  for (;;) {
    if (take_stop()) {
      flush_stdout();
      return -1;
    }
    // busy reading: what it printed still leaves at least every poll interval
    if (stdout_pending && us_since(&stdout_flushed) >= poll_us) flush_stdout();
    if (n > 0) {
      clock_gettime(CLOCK_MONOTONIC, &data_seen);
      return n;
    }
    // a buffer past its watermark, or any other fd in the set, reports through epoll as usual
    n = real_epoll_wait(epfd, events, max, 0);
    if (n > 0) clock_gettime(CLOCK_MONOTONIC, &data_seen);
    if (n != 0) return n;
    // about to sleep: nothing printed waits for the next record
    flush_stdout();
    if (timeout >= 0 && waited_us >= (long)timeout * 1000) return 0;
    // quiet for a while: check less often, up to idle_max_us (a record that ends the quiet waits at most that
    // long; the delivery proof of a record needs TICKs stamped 10 ms after it anyway, so no finding waits longer)
    long sleep_us = poll_us;
    long quiet_us = us_since(&data_seen);
    if (quiet_us >= QUIET_AFTER_US && quiet_us / 2 > sleep_us) sleep_us = quiet_us / 2 < idle_max_us ? quiet_us / 2 : idle_max_us;
    if (sleep_us < poll_us) sleep_us = poll_us;
    struct timespec ts = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };
    if (nanosleep(&ts, NULL) != 0) {
      flush_stdout();
      stop_pending = 0;
      errno = EINTR;
      return -1;
    }
    waited_us += sleep_us;
    n = unread(epfd, events, max, &mine);
  }
}
