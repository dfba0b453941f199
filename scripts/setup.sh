#!/usr/bin/env bash
# Sets up chainwatch on a fresh Debian machine, as root: kernel tooling,
# the programs the live tests drive (liburing-dev: the io_uring test
# program; xfsprogs: an XFS file system for reflink clones), tracefs, and
# the npm build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (bpftrace loads BPF programs)" >&2
  exit 1
fi

need=()
for pkg in bpftrace gcc libc6-dev liburing-dev python3 curl socat netcat-openbsd netcat-traditional ncat procps iproute2 gzip zstd sysdig unzip openssl openssh-client bsdutils rsyslog rsyslog-gnutls prometheus xfsprogs; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: sysdig recommends a kernel-module dkms package (and kernel headers); we only read captures
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# tracepoints live in tracefs
if [ ! -e /sys/kernel/tracing/events/syscalls ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
if [ ! -e /sys/kernel/tracing/events/syscalls ]; then
  echo "setup.sh: no syscall tracepoints under /sys/kernel/tracing: this kernel cannot run chainwatch" >&2
  exit 1
fi

npm ci --no-audit --no-fund >/dev/null
echo "setup.sh: ready ($(bpftrace --version))" >&2
