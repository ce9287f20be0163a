#!/usr/bin/env bash
# Issue 10 §3's race, side by side: python3-libvirt clients, each on its own connection, race for
# SECONDS (default 20) on one qcow2 name (two create+delete it, two look it up and ask info + XMLDesc,
# two resize it, one uploads into it, one downloads from it) and on pool lifecycles (one client
# starts and stops pools while two read them; after each start's reply and after its STARTED event
# another connection must see the pool active). Run against libvirtd 9.0 and against virtpoold
# (NativeAOT, as it ships); prints every kind of error each side gave and the count of unexpected
# ones (goal: 0 for virtpoold, as for libvirtd). Needs root (libvirtd).
# Usage: bench/race-mix.sh [SECONDS] [--no-pools]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
pools=--pools
[ "${2:-}" = "--no-pools" ] && pools=
work=$(mktemp -d /var/tmp/virtpool-bench-race.XXXXXX)
vp_pid=
cleanup() {
  [ -n "$vp_pid" ] && kill "$vp_pid" 2>/dev/null && wait "$vp_pid" 2>/dev/null || true
  "$root/scripts/libvirtd-down.sh" "$work/lv" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$root/scripts/install-deps.sh" >/dev/null
"$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
daemon=${VIRTPOOLD:-$root/artifacts/daemon/virtpoold}
mix="$root/tests/clients/python/race_mix.py"

lv_uri=$("$root/scripts/libvirtd-up.sh" "$work/lv")
mkdir -p "$work/vp"
"$daemon" --socket "$work/vp/sock" --state-dir "$work/vp/state" --pid-file "$work/vp/pid" >"$work/vp/log" 2>&1 &
vp_pid=$!
vp_uri="qemu+unix:///system?socket=$work/vp/sock"
for _ in $(seq 1 300); do [ -S "$work/vp/sock" ] && virsh -q -c "$vp_uri" uri >/dev/null 2>&1 && break; sleep 0.05; done

status=0
for side in libvirtd virtpoold; do
  uri=$lv_uri; [ "$side" = virtpoold ] && uri=$vp_uri
  echo "== $side: ${seconds} s =="
  /usr/bin/python3 "$mix" "$uri" "$work/$side" --seconds "$seconds" $pools | tee "$work/$side.out" || true
done

unexpected() { tail -n 1 "$work/$1.out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["unexpected"] + d["violations"] + d["crashed"])'; }
lv=$(unexpected libvirtd); vp=$(unexpected virtpoold)
echo "== unexpected errors and violations in ${seconds} s: libvirtd $lv, virtpoold $vp (goal: virtpoold 0) =="
[ "$vp" = 0 ] || status=1
exit $status
