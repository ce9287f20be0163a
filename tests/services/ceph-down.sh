#!/usr/bin/env bash
# Stop what tests/services/ceph-up.sh DIR started, and only that: the ceph-mon and ceph-osd whose
# pid files are in DIR/run or whose command line names DIR's ceph.conf (a daemon that died before
# writing its pid file), resumed first if a test stopped them with SIGSTOP; then delete DIR.
# Safe after a start that failed half-way, and when nothing runs.
#
# usage: tests/services/ceph-down.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: ceph-down.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
WORK="$(cd "$1" && pwd)"
CONF="$WORK/ceph.conf"

# A pid counts as ours only while its command line names this DIR's conf: a pid file can outlive
# its daemon and the pid be reused.
ours() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$CONF"; }

pids=()
for pidfile in "$WORK"/run/*.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  ours "$pid" && pids+=("$pid")
done
for cmdline in /proc/[0-9]*/cmdline; do
  pid=${cmdline#/proc/}; pid=${pid%/cmdline}
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in ceph-mon|ceph-osd) ;; *) continue ;; esac
  ours "$pid" && [[ " ${pids[*]} " != *" $pid "* ]] && pids+=("$pid")
done

status=0
if [ ${#pids[@]} -gt 0 ]; then
  kill -CONT "${pids[@]}" 2>/dev/null
  kill -TERM "${pids[@]}" 2>/dev/null
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if kill -0 "$pid" 2>/dev/null; then
      echo "ceph-down: pid $pid survived SIGKILL" >&2
      status=1
    fi
  done
fi
rm -rf "$WORK"
exit $status
