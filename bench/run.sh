#!/usr/bin/env bash
# Runs the same storage work through libvirtd (python3-libvirt) and through VirtPool in one run and
# prints the figures and the ratios the foundation issue sets as goals. Needs root (libvirtd).
#   create 1000 raw volumes      goal: VirtPool >= 0.9 x a plain open+ftruncate+fsync loop
#   refresh a 10,000-file pool   goal: VirtPool <= 1.2 x reading the files' headers (warm)
#   pool-list as a process       goal: virtpool <= virsh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000}
FILES=${FILES:-10000}
work=$(mktemp -d /var/tmp/virtpool-bench.XXXXXX)
mounts=()
cleanup() {
  "$root/scripts/libvirtd-down.sh" "$work/libvirtd" || true
  for m in "${mounts[@]}"; do
    dev=$(findmnt -n -o SOURCE "$m" 2>/dev/null || true)
    umount "$m" 2>/dev/null || true
    [ -n "$dev" ] && losetup -d "$dev" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A new ext4 on a loop device for each side of the create benchmark: ext4's inode allocator slows
# down after many deletions, so sharing one filesystem would favour whoever runs first.
fresh_fs() {
  local name=$1
  truncate -s 4G "$work/$name.img"
  # No lazy inode-table initialisation: it would write in the background while we measure.
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/$name.img"
  mkdir -p "$work/$name"
  local dev
  dev=$(losetup -f --show "$work/$name.img")
  mount "$dev" "$work/$name"
  mounts+=("$work/$name")
}

"$root/scripts/install-deps.sh" >/dev/null
dotnet build "$root/bench/VirtPool.Bench" -c Release -nologo -v quiet >/dev/null
"$root/virtpool" --version >/dev/null
bench="dotnet $root/bench/VirtPool.Bench/bin/Release/net10.0/VirtPool.Bench.dll"
uri=$("$root/scripts/libvirtd-up.sh" "$work/libvirtd")

field() { awk '{print $2}' <<<"$1"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "== create $N raw volumes (1 MiB, sparse) =="
fresh_fs plain; fresh_fs vp; fresh_fs lv
# Three rounds, alternating sides, each in a new directory; the median round counts.
mkdir -p /run/virtpool-bench
bs=(); vs=()
for r in 1 2 3; do
  bs+=("$(field "$($bench baseline-create "$work/plain/d$r" "$N")")")
  vs+=("$(field "$(BENCH_RUNTIME_DIR=/run/virtpool-bench/runtime$r $bench create "$work/vp/r$r" "$N")")")
done
rm -rf /run/virtpool-bench
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
base="plain $(median "${bs[@]}") $N"; vp="vp $(median "${vs[@]}") $N"
lv=$(/usr/bin/python3 "$root/bench/libvirt_side.py" "$uri" create "$work/lv/d" "$N")
b=$(field "$base"); v=$(field "$vp"); l=$(field "$lv")
printf '%-40s %8.3f s  %8.0f ops/s\n' "plain open+ftruncate+fsync" "$b" "$(ratio "$N" "$b")" \
  "VirtPool (library, runtime in /run)" "$v" "$(ratio "$N" "$v")" "libvirtd (python3-libvirt)" "$l" "$(ratio "$N" "$l")"
echo "VirtPool/plain throughput ratio: $(ratio "$b" "$v")  (goal >= 0.90)   VirtPool/libvirt: $(ratio "$l" "$v")x"

echo "== refresh a dir pool of $FILES files (warm, mean of 5) =="
mkdir -p "$work/files"
python3 - "$work/files" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"f{i:05d}.img"), "wb") as f:
        f.truncate(65536)
PY
hdr=$($bench headers "$work/files" 0 5); vp=$($bench refresh "$work/files" 0 5)
lv=$(/usr/bin/python3 "$root/bench/libvirt_side.py" "$uri" refresh "$work/files" 5)
h=$(field "$hdr"); v=$(field "$vp"); l=$(field "$lv")
printf '%-40s %8.3f s\n' "read every header (open+pread)" "$h" "VirtPool pool refresh" "$v" "libvirtd pool refresh" "$l"
echo "VirtPool/headers time ratio: $(ratio "$v" "$h")  (goal <= 1.20)   libvirt/VirtPool: $(ratio "$l" "$v")x"

echo "== pool-list as a whole process =="
export VIRTPOOL_STATE_DIR="$work/cli-state"
"$root/virtpool" pool-define-as p1 dir --target "$work/p1" >/dev/null
"$root/virtpool" pool-build p1 >/dev/null && "$root/virtpool" pool-start p1 >/dev/null
virsh -c "$uri" pool-define-as p1 dir --target "$work/p1lv" >/dev/null
hyperfine -N --warmup 5 --runs 200 --export-json "$work/h.json" \
  "$root/artifacts/cli/virtpool pool-list --all" "virsh -c $uri pool-list --all" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
vp, lv = r[0]["mean"], r[1]["mean"]
print(f"{'virtpool pool-list --all':34s} {vp*1000:8.2f} ms")
print(f"{'virsh pool-list --all':34s} {lv*1000:8.2f} ms")
print(f"virtpool/virsh time ratio: {vp/lv:.2f}  (goal <= 1.00)")
PY
virsh -c "$uri" pool-undefine p1 >/dev/null
