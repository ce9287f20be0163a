#!/usr/bin/env bash
# Per-operation latency on a started gluster pool, virtpoold and the embedded CLI beside libvirtd 9.0
# (issue 12: goal <= 50 ms where libvirt takes ~10 s, because libvirt connects and pays glfs_fini's
# ~10 s on every gluster operation; virtpoold keeps one glfs_t per pool).
#   pool-refresh  (libvirt: connect + list + glfs_fini)
#   vol-delete    of a 1 MiB file (libvirt: connect + unlink + glfs_fini)
#   vol-info      (no gluster call in libvirt: the cached listing; virtpoold stats the file)
# Each side has its own gluster volume of one private glusterd (tests/services/gluster-up.sh), holding
# the same 20 files. Median of N runs (libvirt's N is small: each run takes ~10 s). Needs root.
# Usage: bench/gluster-ops.sh [--runs N] [--libvirt-runs N] [--virtpoold BINARY] [--cli BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=20
lv_runs=3
daemon=
cli=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --libvirt-runs) lv_runs=$2; shift 2 ;;
    --virtpoold) daemon=$2; shift 2 ;;
    --cli) cli=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$daemon" ]; then
  "$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
  daemon="$root/artifacts/daemon/virtpoold"
fi
if [ -z "$cli" ]; then
  "$root/virtpool" --version >/dev/null             # builds the NativeAOT CLI when needed
  cli="$root/artifacts/cli/virtpool"
fi

# glusterd is one per machine: wait for the tests' lock, as the test fixtures do.
exec 9>/run/lock/virtpool-tests-glusterd.lock
flock 9
work=$(mktemp -d /var/tmp/virtpool-bench-gluster.XXXXXX)
fuse=
cleanup() {
  [ -n "$fuse" ] && umount "$fuse" 2>/dev/null
  VIRTPOOLD="$daemon" "$root/scripts/virtpoold-down.sh" "$work/vp" >/dev/null 2>&1 || true
  "$root/scripts/libvirtd-down.sh" "$work/lv" >/dev/null 2>&1 || true
  "$root/tests/services/gluster-down.sh" "$work/gl" || true
  rm -rf "$work"
}
trap cleanup EXIT

mapfile -t vols < <("$root/tests/services/gluster-up.sh" "$work/gl" 2)
lv_uri=$("$root/scripts/libvirtd-up.sh" "$work/lv")
vp_uri=$(VIRTPOOLD="$daemon" "$root/scripts/virtpoold-up.sh" "$work/vp" | head -n 1)
state="$work/cli-state"

populate() {  # VOLUME: 20 files of 1 MiB in /bench
  fuse="$work/fuse"; mkdir -p "$fuse"
  mount -t glusterfs "127.0.0.1:/$1" "$fuse"
  mkdir -p "$fuse/bench"
  for i in $(seq 1 20); do head -c 1048576 /dev/urandom > "$fuse/bench/f$i.raw"; done
  umount "$fuse"; fuse=
}
refill() {  # VOLUME NAME: a 1 MiB file to delete next
  fuse="$work/fuse"; mount -t glusterfs "127.0.0.1:/$1" "$fuse"
  head -c 1048576 /dev/urandom > "$fuse/bench/$2"
  umount "$fuse"; fuse=
}
populate "${vols[0]}"; populate "${vols[1]}"

define() {  # CLIENT...: defines and starts pool glb on $vol
  "$@" pool-define-as glb gluster --source-host 127.0.0.1 --source-name "$vol" --source-path /bench >/dev/null
  "$@" pool-start glb >/dev/null
}
vol=${vols[0]}; define virsh -q -c "$lv_uri"
vol=${vols[1]}; define virsh -q -c "$vp_uri"
# The embedded CLI's own state, on the daemon's volume (only reads and deletes what it made).
vol=${vols[1]}; define "$cli" --state-dir "$state"

now_ms() { date +%s%N | awk '{printf "%.3f", $1/1e6}'; }
# median_ms N CMD...: runs CMD N times, prints the median wall time in ms
median_ms() {
  local n=$1; shift
  local times=()
  for _ in $(seq 1 "$n"); do
    local t0 t1; t0=$(now_ms); "$@" >/dev/null; t1=$(now_ms)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
timed_delete() {  # N VOLUME CMD...: median of N deletes of a fresh file
  local n=$1 volume=$2; shift 2
  local times=()
  for i in $(seq 1 "$n"); do
    refill "$volume" "del$i.raw"
    "$@" pool-refresh glb >/dev/null
    local t0 t1; t0=$(now_ms); "$@" vol-delete --pool glb "del$i.raw" >/dev/null; t1=$(now_ms)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

lv=(virsh -q -c "$lv_uri"); vp=(virsh -q -c "$vp_uri"); em=("$cli" --state-dir "$state")
echo "gluster per-operation latency, median ms (virtpoold/cli: $runs runs, libvirtd: $lv_runs runs); $(nproc) cores"
printf '%-14s %12s %12s %12s %14s %14s\n' operation libvirtd virtpoold "cli(embed)" "libvirtd/vpd" "libvirtd/cli"
report() {
  printf '%-14s %12s %12s %12s %14s %14s\n' "$1" "$2" "$3" "$4" \
    "$(awk -v a="$2" -v b="$3" 'BEGIN{r=a/b; printf (r>=10 ? "%.0fx" : "%.2fx"), r}')" "$(awk -v a="$2" -v b="$4" 'BEGIN{r=a/b; printf (r>=10 ? "%.0fx" : "%.2fx"), r}')"
}
report pool-refresh "$(median_ms "$lv_runs" "${lv[@]}" pool-refresh glb)" "$(median_ms "$runs" "${vp[@]}" pool-refresh glb)" "$(median_ms "$runs" "${em[@]}" pool-refresh glb)"
report vol-info "$(median_ms "$runs" "${lv[@]}" vol-info --pool glb f1.raw)" "$(median_ms "$runs" "${vp[@]}" vol-info --pool glb f1.raw)" "$(median_ms "$runs" "${em[@]}" vol-info --pool glb f1.raw)"
report vol-delete "$(timed_delete "$lv_runs" "${vols[0]}" "${lv[@]}")" "$(timed_delete "$runs" "${vols[1]}" "${vp[@]}")" "$(timed_delete "$runs" "${vols[1]}" "${em[@]}")"

# The same calls from one python3-libvirt client, timed around the call alone (no virsh start-up or
# connect: what a management application that keeps its connection sees).
api_ms() {  # URI VOLUME N: prints "refresh info delete" medians in ms
  /usr/bin/python3 - "$1" "$2" "$3" "$work" <<'PY'
import libvirt, os, statistics, subprocess, sys, time
uri, volume, n, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = libvirt.open(uri)
pool = conn.storagePoolLookupByName("glb")
def timed(call):
    t = time.perf_counter(); call(); return (time.perf_counter() - t) * 1000
refresh = [timed(lambda: pool.refresh(0)) for _ in range(n)]
vol = pool.storageVolLookupByName("f1.raw")
info = [timed(vol.info) for _ in range(n)]
fuse = os.path.join(work, "fuse-api"); os.makedirs(fuse, exist_ok=True)
deletes = []
for i in range(n):
    subprocess.run(["mount", "-t", "glusterfs", "127.0.0.1:/" + volume, fuse], check=True)
    with open(os.path.join(fuse, "bench", f"api{i}.raw"), "wb") as f: f.write(os.urandom(1 << 20))
    subprocess.run(["umount", fuse], check=True)
    pool.refresh(0)
    v = pool.storageVolLookupByName(f"api{i}.raw")
    deletes.append(timed(lambda: v.delete(0)))
print(f"{statistics.median(refresh):.1f} {statistics.median(info):.1f} {statistics.median(deletes):.1f}")
PY
}
read -r lv_refresh lv_info lv_delete < <(api_ms "$lv_uri" "${vols[0]}" "$lv_runs")
read -r vp_refresh vp_info vp_delete < <(api_ms "$vp_uri" "${vols[1]}" "$runs")
echo
echo "the same through one python3-libvirt connection, the call alone timed, median ms"
printf '%-14s %12s %12s %14s\n' operation libvirtd virtpoold "libvirtd/vpd"
for op in refresh info delete; do
  eval "a=\$lv_$op b=\$vp_$op"
  printf '%-14s %12s %12s %14s\n' "$op" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{r=a/b; printf (r>=10 ? "%.0fx" : "%.2fx"), r}')"
done
echo "goal: virtpoold <= 50 ms per operation"
