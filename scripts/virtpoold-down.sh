#!/usr/bin/env bash
# Stops the virtpoold started by virtpoold-up.sh DIR, by its PID (SIGTERM, then SIGKILL after 10 s),
# and removes what a killed daemon may have left behind (sockets, pid file). State in DIR/state stays.
set -u
dir=${1:?usage: virtpoold-down.sh DIR}
pidfile="$dir/virtpoold.pid"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile" "$dir/sock" "$dir/sock-ro"
