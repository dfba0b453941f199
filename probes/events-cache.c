// chainwatch events-cache: bpftrace reads the kernel's list of tracepoints once.
//
// Loaded into bpftrace (and nothing else) with LD_PRELOAD by
// src/source/bpftrace-process.ts; built by scripts/build-preloads.sh.
//
// Why: bpftrace 0.17 opens and reads tracefs' `available_events` again and
// again while it checks and attaches a script's tracepoints: 2,396 times for
// chainwatch's probe (120 probes), and the kernel formats the whole list
// (~2,000 lines) for every read. Measured with perf: that listing was most of
// the ~15 s bpftrace took from start to attached. Here the first open of that
// file reads it into an in-memory file (memfd); every open of it by
// bpftrace, then and later, gets a fresh descriptor of that copy (read from
// its start, as a new open of the file would be). The list can only differ
// from the kernel's if tracepoints appear or vanish (a module loaded) while
// bpftrace starts; the attach itself does not read this list, so such a
// tracepoint is found or refused by the kernel as before.
//
// With CHAINWATCH_EVENTS_KEEP (the script's tracepoints, "category:name"
// separated by commas, as chainwatch computes them from the script) the copy
// holds only those of the kernel's lines: bpftrace scans the list line by
// line for every attach point, so a list of the ~110 tracepoints the script
// names instead of the kernel's ~2,000 shortens every scan; a tracepoint the
// kernel lacks is still missing from the copy.
//
// fopen (how libstdc++'s ifstream opens, which bpftrace uses) and open /
// openat are intercepted for the two paths tracefs is mounted at; anything
// else, and any open that fails to make the copy, passes through unchanged.
// Off with CHAINWATCH_EVENTS_CACHE=0.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const LISTS[] = { "/sys/kernel/tracing/available_events", "/sys/kernel/debug/tracing/available_events" };

static int copy_fd = -1;   // the memfd holding the list, once made
static int disabled = -1;  // CHAINWATCH_EVENTS_CACHE=0
static char copy_path[64]; // /proc/self/fd/N of the copy

static int (*real_open_fn)(const char *, int, ...);
static int (*real_openat_fn)(int, const char *, int, ...);
static FILE *(*real_fopen_fn)(const char *, const char *);

static int is_list(const char *path) {
  if (path == NULL) return 0;
  if (disabled < 0) {
    const char *e = getenv("CHAINWATCH_EVENTS_CACHE");
    disabled = e != NULL && e[0] == '0';
  }
  if (disabled) return 0;
  for (size_t i = 0; i < sizeof LISTS / sizeof LISTS[0]; i++)
    if (strcmp(path, LISTS[i]) == 0) return 1;
  return 0;
}

static int real_open(const char *path, int flags, mode_t mode) {
  if (real_open_fn == NULL) real_open_fn = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
  return real_open_fn(path, flags, mode);
}

/** Whether `line` (one tracepoint, "category:name", no newline) is kept: all are without CHAINWATCH_EVENTS_KEEP. */
static int kept(const char *keep, const char *line, size_t len) {
  if (keep == NULL) return 1;
  for (const char *k = keep; *k != '\0';) {
    const char *end = strchr(k, ',');
    size_t n = end == NULL ? strlen(k) : (size_t)(end - k);
    if (n == len && memcmp(k, line, len) == 0) return 1;
    if (end == NULL) break;
    k = end + 1;
  }
  return 0;
}

/** Writes all of buf[0, n) to fd. */
static int write_all(int fd, const char *buf, size_t n) {
  for (size_t at = 0; at < n;) {
    ssize_t w = write(fd, buf + at, n - at);
    if (w <= 0) return 0;
    at += (size_t)w;
  }
  return 1;
}

/** The path of an in-memory copy of `list`, made on first use; NULL when it cannot be made. */
static const char *copy_of(const char *list) {
  if (copy_fd >= 0) return copy_path;
  int src = real_open(list, O_RDONLY | O_CLOEXEC, 0);
  if (src < 0) return NULL;
  int dst = memfd_create("chainwatch-available-events", MFD_CLOEXEC);
  if (dst < 0) {
    close(src);
    return NULL;
  }
  // the whole list first (tracefs reports no size), then the kept lines of it
  size_t cap = 1 << 20, len = 0;
  char *all = malloc(cap);
  ssize_t n;
  int ok = all != NULL;
  while (ok && (n = read(src, all + len, cap - len)) != 0) {
    if (n < 0) {
      ok = 0;
      break;
    }
    len += (size_t)n;
    if (len == cap) {
      char *bigger = realloc(all, cap *= 2);
      if (bigger == NULL) ok = 0;
      else all = bigger;
    }
  }
  const char *keep = getenv("CHAINWATCH_EVENTS_KEEP");
  for (size_t at = 0; ok && at < len;) {
    const char *nl = memchr(all + at, '\n', len - at);
    size_t end = nl == NULL ? len : (size_t)(nl - all);
    if (kept(keep, all + at, end - at) && !write_all(dst, all + at, end - at + (nl != NULL))) ok = 0;
    at = end + 1;
  }
  free(all);
  close(src);
  if (!ok) {
    close(dst);
    return NULL;
  }
  copy_fd = dst;
  snprintf(copy_path, sizeof copy_path, "/proc/self/fd/%d", dst);
  return copy_path;
}

/** open(2)'s optional third argument, read in the variadic wrapper itself: the mode, passed only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, mode) \
  do { \
    if ((flags) & (O_CREAT | O_TMPFILE)) { \
      va_list ap; \
      va_start(ap, flags); \
      (mode) = va_arg(ap, mode_t); \
      va_end(ap); \
    } \
  } while (0)

/** What to open instead of `path`: its copy for the tracepoint list, else `path` itself. */
static const char *redirect(const char *path, int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY || !is_list(path)) return path;
  const char *c = copy_of(path);
  return c != NULL ? c : path;
}

int open(const char *path, int flags, ...) {
  mode_t mode = 0;
  MODE_ARG(flags, mode);
  return real_open(redirect(path, flags), flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...) {
  mode_t mode = 0;
  MODE_ARG(flags, mode);
  if (real_openat_fn == NULL) real_openat_fn = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
  return real_openat_fn(dirfd, redirect(path, flags), flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

FILE *fopen(const char *path, const char *mode) {
  if (real_fopen_fn == NULL) real_fopen_fn = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
  if (mode != NULL && mode[0] == 'r' && strchr(mode, '+') == NULL) path = redirect(path, O_RDONLY);
  return real_fopen_fn(path, mode);
}

FILE *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));
