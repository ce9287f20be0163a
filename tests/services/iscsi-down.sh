#!/usr/bin/env bash
# Stop the tgtd that tests/services/iscsi-up.sh DIR started, and only that one (its pid file, and a
# process named tgtd). Safe after a start that failed half-way, and when nothing runs. Leaves DIR and
# the LUN files to the caller (iscsi-up.sh DIR starts the target again on them).
#
# usage: tests/services/iscsi-down.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: iscsi-down.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
WORK="$(cd "$1" && pwd)"
pid=$(cat "$WORK/tgtd.pid" 2>/dev/null || true)
ours_alive() { [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tgtd ]; }
ours_alive || { rm -f "$WORK/tgtd.pid"; exit 0; }

# tgtd runs a helper child process; it goes with its parent, or is killed with it below.
children=$(pgrep -P "$pid" -x tgtd || true)

# tgtd ignores SIGTERM while it has targets: delete them first (--force drops their sessions), then
# ask it to exit ("--op delete --mode system" is refused while any target exists).
TGTADM=(tgtadm --lld iscsi)
for tid in $("${TGTADM[@]}" --mode target --op show 2>/dev/null | awk '/^Target [0-9]+:/ {sub(":", "", $2); print $2}'); do
  "${TGTADM[@]}" --mode target --op delete --force --tid "$tid" >/dev/null 2>&1 || true
done
"${TGTADM[@]}" --mode account --op delete --user virtpool >/dev/null 2>&1 || true
tgtadm --op delete --mode system >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null
for _ in $(seq 1 100); do ours_alive || break; sleep 0.1; done
if ours_alive; then
  echo "iscsi-down: tgtd $pid did not exit; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 50); do ours_alive || break; sleep 0.1; done
fi
for child in $children; do
  if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = tgtd ]; then kill -KILL "$child" 2>/dev/null || true; fi
done
rm -f "$WORK/tgtd.pid"
exit 0
