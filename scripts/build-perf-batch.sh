#!/usr/bin/env sh
# Builds probes/perf-batch.c (batched delivery of bpftrace's output, see its
# header) into dist/perf-batch.so. Without a C compiler chainwatch still
# works, with one wake-up of bpftrace per record; it says so when it starts.
set -u
cd "$(dirname "$0")/.."
mkdir -p dist
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-perf-batch: no C compiler ($cc): probe output will not be batched (apt-get install -y gcc libc6-dev)" >&2
  rm -f dist/perf-batch.so
  exit 0
fi
if ! "$cc" -O2 -Wall -Werror -shared -fPIC -o dist/perf-batch.so.tmp probes/perf-batch.c -ldl; then
  echo "build-perf-batch: compiling probes/perf-batch.c failed: probe output will not be batched" >&2
  rm -f dist/perf-batch.so.tmp dist/perf-batch.so
  exit 0
fi
mv dist/perf-batch.so.tmp dist/perf-batch.so
