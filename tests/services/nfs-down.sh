#!/usr/bin/env bash
# Stop what tests/services/nfs-up.sh DIR started, and only that: ganesha and rpcbind by their pid
# files, then every process still in the run's network namespace (only this run's servers, and what a
# test started in there, can be in it), then the namespace itself. Safe after a start that failed
# half-way, and when nothing runs. Leaves DIR itself to the caller.
#
# usage: tests/services/nfs-down.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: nfs-down.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
WORK="$(cd "$1" && pwd)"
NETNS=$(cat "$WORK/netns" 2>/dev/null || true)
NAME=${NETNS#/run/netns/}
NSINODE=$( [ -n "$NETNS" ] && stat -L -c %i "$NETNS" 2>/dev/null || true)

# A pid is ours when it lives in the run's namespace (a pid file can outlive its process, and the
# number can be reused by another).
in_our_ns() { [ -n "$NSINODE" ] && [ "$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null)" = "$NSINODE" ]; }

stop_pids() { # TERM, up to ~15 s (ganesha takes a few seconds to shut down), then KILL
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for pid in "$@"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

for pf in "$WORK/ganesha.pid" "$WORK/rpcbind.pid"; do
  pid=$( [ -f "$pf" ] && tr -dc 0-9 < "$pf" || true)
  if [ -n "$pid" ] && in_our_ns "$pid"; then stop_pids "$pid"; fi
  rm -f "$pf"
done

if [ -n "$NSINODE" ]; then
  mapfile -t left < <(ip netns pids "$NAME" 2>/dev/null)
  stop_pids "${left[@]}"
fi
if [ -n "$NETNS" ]; then
  ip netns delete "$NAME" 2>/dev/null || true
fi
rm -f "$WORK/netns"
exit 0
