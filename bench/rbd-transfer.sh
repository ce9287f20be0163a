#!/usr/bin/env bash
# rbd pools: upload and download throughput of one file through virtpoold (real virsh vol-upload /
# vol-download, as a user runs them) against `rbd import` / `rbd export` of the same file into the
# same RADOS pool, on a private single-node Ceph (tests/services/ceph-up.sh: one mon, one memstore
# OSD) on 127.0.0.1. libvirtd 9.0 has no upload or download on rbd pools, so it is not a side here.
#   file      SIZE MiB of random data with holes: the first and third quarters data, the rest holes
#             (in /dev/shm, so the local disk is no part of it)
#   upload    virsh vol-upload (plain) into an image of the file's size  vs  rbd import (a new image each round)
#   sparse    virsh vol-upload --sparse                                  vs  rbd import (it skips zeros itself)
#   download  virsh vol-download (plain)                                 vs  rbd export
#   sparse    virsh vol-download --sparse                                vs  rbd export
# Each side's result is checked against the file (sha256). Goal (issue 12): >= 1x rbd import/export.
# Needs root and the packages of scripts/install-deps.sh.
# Usage: bench/rbd-transfer.sh [--rounds N] [--mib N] [--mon-port PORT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=3
mib=256
port=19889
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --mon-port) port=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /var/tmp/virtpool-bench-rbdxfer.XXXXXX)
shm=$(mktemp -d /dev/shm/virtpool-bench-rbdxfer.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  "$root/tests/services/ceph-down.sh" "$work/ceph" >/dev/null 2>&1 || true
  rm -rf "$work" "$shm"
}
trap cleanup EXIT

"$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
daemon="$root/artifacts/daemon/virtpoold"
[ -x "$daemon" ] || { echo "no NativeAOT daemon at $daemon" >&2; exit 1; }

echo "rbd-transfer: starting a private Ceph on 127.0.0.1:$port (memstore $((mib * 4 + 1024)) MiB) ..."
CEPH_MEMSTORE_BYTES=$(( (mib * 4 + 1024) << 20 )) "$root/tests/services/ceph-up.sh" "$work/ceph" "$port" >/dev/null
conf="$work/ceph/ceph.conf"
key=$(cat "$work/ceph/client.libvirt.key")
RBD=(rbd --conf "$conf" --id libvirt)

mkdir -p "$work/vp"
"$daemon" --socket "$work/vp/sock" --state-dir "$work/vp/state" --pid-file "$work/vp/pid" >"$work/vp/log" 2>&1 &
pids+=($!)
uri="qemu+unix:///system?socket=$work/vp/sock"
for _ in $(seq 1 300); do [ -S "$work/vp/sock" ] && virsh -q -c "$uri" uri >/dev/null 2>&1 && break; sleep 0.05; done
V=(virsh -q -c "$uri")
cat > "$work/secret.xml" <<EOF
<secret ephemeral='no' private='yes'><uuid>8e2f6a4c-1d3b-4c5e-9f7a-2b4d6f8a0c12</uuid><usage type='ceph'><name>bench</name></usage></secret>
EOF
printf %s "$key" > "$work/key"
cat > "$work/pool.xml" <<EOF
<pool type='rbd'><name>bench</name><source><host name='127.0.0.1' port='$port'/><name>rbd</name>
<auth type='ceph' username='libvirt'><secret usage='bench'/></auth></source></pool>
EOF
"${V[@]}" secret-define "$work/secret.xml" >/dev/null
"${V[@]}" secret-set-value 8e2f6a4c-1d3b-4c5e-9f7a-2b4d6f8a0c12 --file "$work/key" >/dev/null
"${V[@]}" pool-create "$work/pool.xml" >/dev/null
"${V[@]}" vol-create-as bench vp "${mib}M" >/dev/null

file="$shm/data.bin"
quarter=$((mib / 4))
truncate -s "${mib}M" "$file"
head -c "${quarter}M" /dev/urandom | dd of="$file" conv=notrunc status=none
head -c "${quarter}M" /dev/urandom | dd of="$file" bs=1M seek=$((2 * quarter)) conv=notrunc status=none
want=$(sha256sum < "$file" | cut -d' ' -f1)
echo "rbd-transfer: $mib MiB ($((2 * quarter)) MiB data), $rounds rounds each; MB/s = MiB moved / median seconds"

now() { date +%s.%N; }
declare -A med
# measure NAME PREP-CMD RUN-CMD CHECK-FILE: median seconds of RUN over the rounds (PREP untimed); checks the result's sha256
measure() {
  local name=$1 prep=$2 run=$3 check=$4 samples=() t0 t1
  for _ in $(seq 1 "$rounds"); do
    eval "$prep"
    t0=$(now); eval "$run"; t1=$(now)
    samples+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')")
    if [ -n "$check" ]; then
      got=$(eval "$check" | sha256sum | cut -d' ' -f1)
      [ "$got" = "$want" ] || { echo "$name: the data differs (sha256 $got)" >&2; exit 1; }
    fi
  done
  med[$name]=$(printf '%s\n' "${samples[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '  %-32s median %7.3f s  %8.1f MB/s  (rounds: %s)\n' "$name" "${med[$name]}" "$(awk -v m="$mib" -v t="${med[$name]}" 'BEGIN {print m / t}')" "$(printf '%.3f ' "${samples[@]}")"
}
export_vp() { "${RBD[@]}" export --no-progress rbd/vp - 2>/dev/null; }
export_ref() { "${RBD[@]}" export --no-progress rbd/ref - 2>/dev/null; }

measure "upload: virsh vol-upload" ":" '"${V[@]}" vol-upload vp "$file" --pool bench' export_vp
measure "upload: rbd import" '"${RBD[@]}" rm --no-progress rbd/ref >/dev/null 2>&1 || true' '"${RBD[@]}" import --no-progress "$file" rbd/ref' export_ref
measure "sparse upload: vol-upload --sparse" ":" '"${V[@]}" vol-upload vp "$file" --pool bench --sparse' export_vp
measure "download: virsh vol-download" 'rm -f "$shm/out"' '"${V[@]}" vol-download vp "$shm/out" --pool bench' 'cat "$shm/out"'
measure "download: rbd export" 'rm -f "$shm/out"' '"${RBD[@]}" export --no-progress rbd/ref "$shm/out"' 'cat "$shm/out"'
measure "sparse download: --sparse" 'rm -f "$shm/out"' '"${V[@]}" vol-download vp "$shm/out" --pool bench --sparse' 'cat "$shm/out"'

r() { awk -v a="${med[$2]}" -v b="${med[$1]}" 'BEGIN {print a / b}'; }   # throughput ratio of $1 over $2 (time of $2 / time of $1)
printf '  ratio vol-upload/rbd import             = %.2f  (goal >= 1.00)\n' "$(r "upload: virsh vol-upload" "upload: rbd import")"
printf '  ratio vol-upload --sparse/rbd import    = %.2f  (goal >= 1.00)\n' "$(r "sparse upload: vol-upload --sparse" "upload: rbd import")"
printf '  ratio vol-download/rbd export           = %.2f  (goal >= 1.00)\n' "$(r "download: virsh vol-download" "download: rbd export")"
printf '  ratio vol-download --sparse/rbd export  = %.2f  (goal >= 1.00)\n' "$(r "sparse download: --sparse" "download: rbd export")"
