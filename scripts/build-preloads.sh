#!/usr/bin/env sh
# Builds the two libraries chainwatch preloads into bpftrace (and nothing
# else), see their headers:
#   probes/perf-batch.c   -> dist/perf-batch.so   batched delivery of bpftrace's output
#   probes/events-cache.c -> dist/events-cache.so bpftrace reads the tracepoint list once (attach in ~4 s, not ~15 s)
# Without a C compiler chainwatch still works, unbatched and slower to
# attach; it says so when it starts.
set -u
cd "$(dirname "$0")/.."
mkdir -p dist
cc=${CC:-cc}
for lib in perf-batch events-cache; do
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "build-preloads: no C compiler ($cc): dist/$lib.so not built (apt-get install -y gcc libc6-dev)" >&2
    rm -f "dist/$lib.so"
    continue
  fi
  if ! "$cc" -O2 -Wall -Werror -shared -fPIC -o "dist/$lib.so.tmp" "probes/$lib.c" -ldl; then
    echo "build-preloads: compiling probes/$lib.c failed: dist/$lib.so not built" >&2
    rm -f "dist/$lib.so.tmp" "dist/$lib.so"
    continue
  fi
  mv "dist/$lib.so.tmp" "dist/$lib.so"
done
