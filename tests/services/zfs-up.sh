#!/usr/bin/env bash
# Start a private zfs-fuse daemon for tests, its pid file and log in DIR. zpool and zfs reach it on
# the fixed socket /var/run/zfs/zfs_socket, so there is one per machine: when another daemon already
# answers there, this refuses instead of sharing or replacing it (callers serialise on a machine-wide
# lock, see tests/VirtPool.TestSupport/ZfsDaemon.cs). The start is tried 3 times, then fails loudly.
#
# usage: tests/services/zfs-up.sh DIR
# stop:  tests/services/zfs-down.sh DIR  (also after a failed start)
#
# Test zpools go on file vdevs in DIR (absolute paths, >= 64 MiB each); zfs-down.sh destroys every
# zpool with a vdev there. A zpool name must not start with c and a digit (zfs reserves c0t0d0-style
# names), so the tests' names are vpc11zfs… rather than c11zfs….
set -euo pipefail

die() { echo "zfs-up: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: zfs-up.sh DIR"
mkdir -p "$1"
WORK="$(cd "$1" && pwd)"

command -v zfs-fuse >/dev/null || die "zfs-fuse not found: install zfs-fuse (scripts/install-deps.sh)"
answers() { zpool list -H >/dev/null 2>&1; }
if answers; then
  die "another zfs-fuse already answers on /var/run/zfs/zfs_socket (pid $(pgrep -x zfs-fuse | tr '\n' ' ')); it is one per machine: stop that one first"
fi

mkdir -p /var/run/zfs /var/lock/zfs
for attempt in 1 2 3; do
  rm -f "$WORK/zfs-fuse.pid"
  # -m: a small ARC (the machine is shared); no kstat mount at /zfs-kstat.
  zfs-fuse --pidfile "$WORK/zfs-fuse.pid" --no-kstat-mount -m 64 >>"$WORK/zfs-fuse.log" 2>&1 || true
  for _ in $(seq 1 100); do
    if answers; then
      # A zpool left in zfs-fuse's cache (/var/lib/zfs/zpool.cache) by a run that died before its
      # teardown comes back faulted, its vdev file gone: it is no one's, destroy it.
      for pool in $(zpool list -H -o name,health 2>/dev/null | awk '$2 == "FAULTED" || $2 == "UNAVAIL" {print $1}'); do
        case "$pool" in vpc11zfs*) zpool destroy -f "$pool" >/dev/null 2>&1 || true ;; esac
      done
      cat "$WORK/zfs-fuse.pid"
      exit 0
    fi
    sleep 0.1
  done
  echo "zfs-up: zfs-fuse did not answer (attempt $attempt); log:" >&2
  tail -n 20 "$WORK/zfs-fuse.log" >&2 || true
  pid=$(cat "$WORK/zfs-fuse.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  sleep 1
done
die "zfs-fuse failed to start 3 times (log: $WORK/zfs-fuse.log)"
