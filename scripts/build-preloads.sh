#!/usr/bin/env sh
# Builds the two libraries chainwatch preloads into bpftrace, and one
# helper it runs itself; see their headers:
#   probes/perf-batch.c   -> dist/perf-batch.so   batched delivery of bpftrace's output
#   probes/events-cache.c -> dist/events-cache.so bpftrace reads the tracepoint list once (attach in ~4 s, not ~15 s)
#   probes/binary-records.c -> dist/binary-records.so bpftrace hands over its printf records as bytes, not JSON text
# Without a C compiler chainwatch still works, unbatched and slower to
# attach; it says so when it starts.
set -u
cd "$(dirname "$0")/.."
mkdir -p dist
cc=${CC:-cc}
for lib in perf-batch events-cache binary-records; do
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
# probes/handle-path.c -> dist/handle-path: names a file opened by a handle (open_by_handle_at) from the handle
if command -v "$cc" >/dev/null 2>&1 && "$cc" -O2 -Wall -Werror -o dist/handle-path.tmp probes/handle-path.c; then
  mv dist/handle-path.tmp dist/handle-path
else
  echo "build-preloads: dist/handle-path not built: files opened by a handle are named only while their descriptor is open" >&2
  rm -f dist/handle-path.tmp dist/handle-path
fi
