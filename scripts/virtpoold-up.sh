#!/usr/bin/env bash
# Starts the built virtpoold in the background for tests and demos.
# Usage: scripts/virtpoold-up.sh DIR [PORT]
#   socket DIR/sock (read-only DIR/sock-ro), state DIR/state, pid DIR/virtpoold.pid, log DIR/virtpoold.log;
#   with PORT also plain TCP on 127.0.0.1:PORT (--auth none). Prints the URIs once the socket answers.
# The binary is $VIRTPOOLD if set, else the newest build found in the repository (built if there is none).
set -euo pipefail
dir=${1:?usage: virtpoold-up.sh DIR [PORT]}
port=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
uri="qemu+unix:///system?socket=$dir/sock"

print_uris() {
  echo "$uri"
  [ -n "$port" ] && echo "qemu+tcp://127.0.0.1:$port/system"
  return 0
}

if [ -f "$dir/virtpoold.pid" ] && kill -0 "$(cat "$dir/virtpoold.pid")" 2>/dev/null; then
  print_uris
  exit 0
fi

bin=${VIRTPOOLD:-}
if [ -z "$bin" ]; then
  bin=$(ls -t "$root"/src/VirtPool.Daemon/bin/*/net10.0/virtpoold "$root"/artifacts/bin/VirtPool.Daemon/*/virtpoold \
          2>/dev/null | head -n 1 || true)
fi
if [ -z "$bin" ]; then
  dotnet build "$root/src/VirtPool.Daemon" -c Release -nologo >&2
  bin="$root/src/VirtPool.Daemon/bin/Release/net10.0/virtpoold"
fi

args=(--socket "$dir/sock" --state-dir "$dir/state" --pid-file "$dir/virtpoold.pid")
[ -n "$port" ] && args+=(--listen "127.0.0.1:$port" --auth none)
rm -f "$dir/virtpoold.pid"
# setsid: the daemon must not die with the calling shell's process group (e.g. a test runner's Ctrl-C).
setsid "$bin" "${args[@]}" >"$dir/virtpoold.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 150); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "virtpoold exited during start-up; log:" >&2
    tail -n 20 "$dir/virtpoold.log" >&2 || true
    exit 1
  fi
  if [ -S "$dir/sock" ] && [ -f "$dir/virtpoold.pid" ] && virsh -q -k 0 -c "$uri" uri >/dev/null 2>&1; then
    print_uris
    exit 0
  fi
  sleep 0.1
done
echo "virtpoold did not answer within 15 s; log:" >&2
tail -n 20 "$dir/virtpoold.log" >&2 || true
kill "$pid" 2>/dev/null || true
exit 1
