#!/usr/bin/env bash
# Stop what tests/services/gluster-up.sh DIR started, and only that: FUSE mounts of its volumes, the
# volumes, the processes whose command line names DIR (brick, glusterd), its run-time pid files.
# Safe after a start that failed half-way, and when nothing runs. Leaves DIR itself to the caller.
#
# usage: tests/services/gluster-down.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: gluster-down.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
WORK="$(cd "$1" && pwd)"
mapfile -t VOLS < <(cat "$WORK/volumes" 2>/dev/null)
GL=(gluster --mode=script)

glusterd_pid=$(cat "$WORK/glusterd.pid" 2>/dev/null || true)
ours_alive() { [ -n "$glusterd_pid" ] && grep -qF -- "$WORK" "/proc/$glusterd_pid/cmdline" 2>/dev/null; }

for VOL in "${VOLS[@]}"; do
  # Mounts of this volume (a test that failed before unmounting).
  findmnt -rn -t fuse.glusterfs -o TARGET,SOURCE | awk -v v=":/$VOL" 'substr($2, length($2) - length(v) + 1) == v {print $1}' |
    while read -r target; do umount "$target" 2>/dev/null || umount -l "$target"; done
  if ours_alive; then
    "${GL[@]}" volume stop "$VOL" force >/dev/null 2>&1 || true
    "${GL[@]}" volume delete "$VOL" >/dev/null 2>&1 || true
  fi
done

# Every process started for DIR carries it in its command line (glusterd's volfile, the brick path).
pids=()
for cmdline in /proc/[0-9]*/cmdline; do
  pid=${cmdline#/proc/}; pid=${pid%/cmdline}
  [ "$pid" != "$$" ] || continue
  if { tr '\0' ' ' < "$cmdline"; } 2>/dev/null | grep -qF -- "$WORK/"; then
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in glusterd|glusterfs|glusterfsd) pids+=("$pid") ;; esac
  fi
done
[ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null
for pid in "${pids[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
done

for VOL in "${VOLS[@]}"; do
  rm -rf "/var/run/gluster/vols/$VOL"
  # The brick's log, which glusterd always writes under /var/log/glusterfs/bricks.
  rm -f "/var/log/glusterfs/bricks/$(printf '%s' "${WORK#/}" | tr / -)-bricks-$VOL.log"
done
rm -f "$WORK/glusterd.pid"
exit 0
