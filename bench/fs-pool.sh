#!/usr/bin/env bash
# fs pool start + refresh + stop, VirtPool beside libvirtd in one run (issue 11). Needs root.
# Each side gets its own 512 MiB ext4 loop device (built once through its own pool-build), then N rounds
# of pool-start, pool-refresh, pool-destroy through real virsh against libvirtd, through real virsh
# against virtpoold, and through the embedded virtpool CLI, interleaved. Prints the mean time per round
# and the ratios. Each round is three client processes, so client start-up counts on every side.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-20}
work=$(mktemp -d /var/tmp/virtpool-bench-fs.XXXXXX)
devices=()
cleanup() {
  for uri in "${uris[@]:-}"; do
    [ -n "$uri" ] && { virsh -q -c "$uri" pool-destroy fsb >/dev/null 2>&1 || true; virsh -q -c "$uri" pool-undefine fsb >/dev/null 2>&1 || true; }
  done
  "$root/artifacts/cli/virtpool" --state-dir "$work/embedded" pool-destroy fsb >/dev/null 2>&1 || true
  "$root/scripts/virtpoold-down.sh" "$work/virtpoold" >/dev/null 2>&1 || true
  "$root/scripts/libvirtd-down.sh" "$work/libvirtd" >/dev/null 2>&1 || true
  mapfile -t found < <(findmnt -rn -o TARGET | grep "^$work/" || true)
  for m in "${found[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  for d in "${devices[@]}"; do losetup -d "$d" 2>/dev/null || true; done
  rm -rf "$work"
}
uris=()
trap cleanup EXIT

# new_device NAME: a 512 MiB loop device in $dev (not echoed: a $(...) subshell would lose devices+=).
new_device() {
  truncate -s 512M "$work/$1.img"
  dev=$(losetup -f --show "$work/$1.img")
  devices+=("$dev")
}

# The shipped binaries: both NativeAOT (the wrappers publish them when their sources changed).
"$root/virtpool" --version >/dev/null
"$root/virtpoold" --help >/dev/null
oracle=$("$root/scripts/libvirtd-up.sh" "$work/libvirtd" | tail -n 1)
daemon=$(VIRTPOOLD="$root/artifacts/daemon/virtpoold" "$root/scripts/virtpoold-up.sh" "$work/virtpoold" | head -n 1)
uris=("$oracle" "$daemon")

# once CMD...: one start, refresh, destroy with CMD as the client; prints its nanoseconds.
once() {
  local start end
  start=$(date +%s%N)
  "$@" pool-start fsb >/dev/null
  "$@" pool-refresh fsb >/dev/null
  "$@" pool-destroy fsb >/dev/null
  end=$(date +%s%N)
  echo $((end - start))
}

setup() {
  local name=$1
  new_device "$name"
  shift
  "$@" pool-define-as fsb fs --source-dev "$dev" --source-format ext4 --target "$work/target-$name" >/dev/null
  "$@" pool-build fsb --overwrite >/dev/null
}

setup libvirtd virsh -q -c "$oracle"
setup virtpoold virsh -q -c "$daemon"
setup embedded "$root/artifacts/cli/virtpool" --state-dir "$work/embedded"

# Rounds interleave the three sides, so load from elsewhere on the machine falls on all of them alike.
ns_libvirtd=0 ns_daemon=0 ns_embedded=0
for ((i = 0; i < N; i++)); do
  ns_libvirtd=$((ns_libvirtd + $(once virsh -q -c "$oracle")))
  ns_daemon=$((ns_daemon + $(once virsh -q -c "$daemon")))
  ns_embedded=$((ns_embedded + $(once "$root/artifacts/cli/virtpool" --state-dir "$work/embedded")))
done
us_libvirtd=$((ns_libvirtd / N / 1000)) us_daemon=$((ns_daemon / N / 1000)) us_embedded=$((ns_embedded / N / 1000))

echo "fs pool start+refresh+destroy, $N rounds, 512 MiB ext4 on a loop device (microseconds per round)"
printf '  virsh -> libvirtd 9.0   %8d us\n' "$us_libvirtd"
printf '  virsh -> virtpoold      %8d us   ratio %.2f x libvirtd\n' "$us_daemon" "$(echo "$us_daemon / $us_libvirtd" | bc -l)"
printf '  virtpool (embedded)     %8d us   ratio %.2f x libvirtd\n' "$us_embedded" "$(echo "$us_embedded / $us_libvirtd" | bc -l)"
