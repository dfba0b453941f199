/*
 * handle-path: the path of the file a file handle names, for chainwatch.
 *
 *   handle-path MOUNT_DIR HANDLE_TYPE HANDLE_HEX
 *
 * A process that opens a file with open_by_handle_at(2) names no path, and
 * may close the descriptor (or exit) before /proc could name it. The probe
 * reports the handle it passed (its type and bytes); this opens the same
 * handle on a directory of the same filesystem, with O_PATH (the file is
 * not read), and writes where /proc/self/fd says that is: the path bytes,
 * nothing else, on standard output. Exit status 0 when named, 1 when the
 * handle names nothing any more (or this lacks CAP_DAC_READ_SEARCH), 2 on
 * bad arguments.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  size_t len = strlen(argv[3]);
  if (len == 0 || len % 2 != 0 || len / 2 > MAX_HANDLE_SZ) return 2;
  size_t n = len / 2;
  struct file_handle *fh = malloc(sizeof(*fh) + n);
  if (fh == NULL) return 1;
  fh->handle_bytes = (unsigned int)n;
  fh->handle_type = atoi(argv[2]);
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(argv[3][2 * i]), lo = hexval(argv[3][2 * i + 1]);
    if (hi < 0 || lo < 0) return 2;
    fh->f_handle[i] = (unsigned char)(hi << 4 | lo);
  }
  int mount = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount < 0) return 1;
  int fd = open_by_handle_at(mount, fh, O_PATH | O_CLOEXEC);
  if (fd < 0) return 1;
  char link[64], path[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t k = readlink(link, path, sizeof(path));
  if (k <= 0 || (size_t)k >= sizeof(path)) return 1;
  return fwrite(path, 1, (size_t)k, stdout) == (size_t)k ? 0 : 1;
}
