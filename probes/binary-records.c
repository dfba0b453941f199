// chainwatch binary-records: bpftrace's printf records handed over as the
// bytes the probe wrote, not as formatted JSON text.
//
// Loaded into bpftrace (and nothing else) with LD_PRELOAD by
// src/source/bpftrace-process.ts when CHAINWATCH_BINARY_RECORDS=1; built by
// scripts/build-preloads.sh.
//
// Why: bpftrace 0.17 formats every printf record in user space (the format
// string applied to the arguments, then JSON-escaped for `-f json`): ~3 us
// plus ~0.4 us per field per record, measured, which is most of bpftrace's
// CPU while it watches a busy host, and chainwatch then parses that text
// back into numbers. A printf record in the perf buffer is already a fixed
// layout: the printf's id (8 bytes), then each argument, integers widened
// to 8 bytes, strings as fixed arrays (str(): BPFTRACE_STRLEN bytes, comm:
// 16, ntop(): 24). chainwatch knows each printf's format and arguments from
// the script it rendered (src/source/printf-layouts.ts), so it can read the
// bytes itself.
//
// How: libbcc's bpf_open_perf_buffer (which bpftrace calls once per CPU) is
// wrapped; its record callback writes every printf record (ids below
// 10,000: bpftrace's range for printf) to bpftrace's own stdout as a frame,
//   0x1E, u32 length (little endian), the record's bytes,
// in the same stdio buffer as bpftrace's JSON lines, so the order of records,
// lost-event reports and everything else bpftrace prints is unchanged.
// bpftrace's other records (exit, map prints, system, cat...) go to its own
// callback as before. The first record of each printf id is framed with
// 0x1F instead and then also handed to bpftrace, which prints it as a JSON
// line right after the frame: chainwatch decodes that record from the text
// and checks its reading of the bytes against it, so a layout it got wrong
// is found on the first record, never trusted silently. Frames never start
// with '{', which every JSON line does. Each frame is flushed as bpftrace
// flushes each line it prints (perf-batch.c defers those flushes to when
// bpftrace would sleep): a record never waits in the buffer for the next.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*raw_cb_t)(void *cookie, void *data, int size);
typedef void (*lost_cb_t)(void *cookie, uint64_t lost);

#define PRINTF_IDS 10000 // bpftrace 0.17: RESERVED_IDS_PER_ASYNCACTION, printf ids start at 0
#define FRAME 0x1E
#define FRAME_ECHOED 0x1F

static raw_cb_t bpftrace_cb;
static unsigned char seen[PRINTF_IDS];

static void frame_records(void *cookie, void *data, int size) {
  uint64_t id;
  if (size >= 8) {
    memcpy(&id, data, sizeof id);
    if (id < PRINTF_IDS) {
      unsigned char head[5];
      uint32_t len = (uint32_t)size;
      head[0] = seen[id] ? FRAME : FRAME_ECHOED;
      memcpy(head + 1, &len, sizeof len);
      fwrite(head, 1, sizeof head, stdout);
      fwrite(data, 1, (size_t)size, stdout);
      // as bpftrace does after each record it prints: with perf-batch.so loaded this only marks stdout for
      // writing before bpftrace next sleeps (or within a poll interval); without it, a write per record
      if (seen[id]) {
        fflush(stdout);
        return;
      }
      seen[id] = 1;
    }
  }
  bpftrace_cb(cookie, data, size);
}

void *bpf_open_perf_buffer(raw_cb_t cb, lost_cb_t lost_cb, void *cookie, int pid, int cpu, int page_cnt) {
  static void *(*real)(raw_cb_t, lost_cb_t, void *, int, int, int);
  if (real == NULL) real = (void *(*)(raw_cb_t, lost_cb_t, void *, int, int, int))dlsym(RTLD_NEXT, "bpf_open_perf_buffer");
  if (real == NULL) return NULL;
  const char *on = getenv("CHAINWATCH_BINARY_RECORDS");
  if (on == NULL || strcmp(on, "1") != 0) return real(cb, lost_cb, cookie, pid, cpu, page_cnt);
  // one callback for every CPU's buffer (bpftrace passes the same one each time)
  bpftrace_cb = cb;
  return real(frame_records, lost_cb, cookie, pid, cpu, page_cnt);
}
