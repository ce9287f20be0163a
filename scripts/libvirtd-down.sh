#!/usr/bin/env bash
# Stops the libvirtd started by libvirtd-up.sh DIR, by its PID.
set -u
dir=${1:?usage: libvirtd-down.sh DIR}
pidfile="$dir/libvirtd.pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
kill "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null || true
rm -f "$pidfile"
# The bind mounts lived in the daemon's own mount namespace and went with it.
