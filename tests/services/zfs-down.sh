#!/usr/bin/env bash
# Stop what tests/services/zfs-up.sh DIR started, and only that: every zpool with a vdev in DIR
# (destroyed, which also unmounts its datasets and drops it from zfs-fuse's cache), then the daemon
# of DIR's pid file (its command line must name DIR), then any FUSE mount it left. Safe after a start
# that failed half-way, and when nothing runs. Leaves DIR itself to the caller.
#
# usage: tests/services/zfs-down.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: zfs-down.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
WORK="$(cd "$1" && pwd)"
status=0

pid=$(cat "$WORK/zfs-fuse.pid" 2>/dev/null || true)
ours() { [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$WORK/zfs-fuse.pid"; }

if ours; then
  for pool in $(zpool list -H -o name 2>/dev/null); do
    zpool status "$pool" 2>/dev/null | grep -qF -- "$WORK/" || continue
    # A pool can be busy for a moment after a dataset was used: try again before giving up.
    for _ in 1 2 3 4 5; do
      zpool destroy -f "$pool" >/dev/null 2>&1 && break
      sleep 0.5
    done
    if zpool list -H -o name "$pool" >/dev/null 2>&1; then
      echo "zfs-down: cannot destroy zpool $pool" >&2
      status=1
    fi
  done
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "zfs-down: zfs-fuse $pid ignored SIGTERM; killed" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
fi

# Mounts of a daemon that is gone answer nothing; lazily unmount them.
findmnt -rn -t fuse,fuse.zfs -o TARGET,SOURCE 2>/dev/null | awk '$2 ~ /^vpc11zfs/ {print $1}' | sort -r |
  while read -r target; do umount -l "$target" 2>/dev/null; done
rm -f "$WORK/zfs-fuse.pid"
exit $status
