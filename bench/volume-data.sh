#!/usr/bin/env bash
# Volume data operations, VirtPool beside libvirtd in one run (issue 3's goals). Needs root.
#   qcow2 create (1 GiB, default options)   goal: VirtPool >= 10 x libvirt (ops/s)
#   clone a 1 GiB raw volume (ext4)         goal: VirtPool <= 1.1 x (cp + sync)
#   clone with reflink (xfs)                goal: O(1): time independent of size
#   wipe zero a 1 GiB written raw volume    goal: VirtPool >= 10 x libvirt
#   upload / download 1 GiB, local file     goal: VirtPool >= 0.9 x cp throughput
# Every measured side gets a fresh filesystem on a loop device; the median of 3 rounds counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-500}
MIB=${MIB:-1024}
work=$(mktemp -d /var/tmp/virtpool-bench-data.XXXXXX)
mounts=()
cleanup() {
  "$root/scripts/libvirtd-down.sh" "$work/libvirtd" || true
  # Rounds run in subshells: find their mounts by path, not only through the array.
  mapfile -t found < <(findmnt -rn -o TARGET | grep "^$work/" || true)
  for m in "${mounts[@]}" "${found[@]}"; do
    dev=$(findmnt -n -o SOURCE "$m" 2>/dev/null || true)
    umount "$m" 2>/dev/null || true
    [ -n "$dev" ] && losetup -d "$dev" 2>/dev/null || true
  done
  umount "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# libvirtd runs in a mount namespace of its own (scripts/libvirtd-up.sh, slave propagation): make
# the work folder a shared mount so the filesystems mounted for each round reach libvirtd too.
mount --bind "$work" "$work"
mount --make-shared "$work"

# fresh_fs NAME [ext4|xfs]: a new 6 GiB filesystem on a loop device, mounted at $work/NAME.
fresh_fs() {
  local name=$1 type=${2:-ext4} dev
  truncate -s 6G "$work/$name.img"
  dev=$(losetup -f --show "$work/$name.img")
  if [ "$type" = xfs ]; then
    mkfs.xfs -q -m reflink=1 "$dev"
  else
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
  fi
  mkdir -p "$work/$name"
  mount "$dev" "$work/$name"
  mounts+=("$work/$name")
}

drop_fs() {
  local m=$1 dev
  dev=$(findmnt -n -o SOURCE "$m")
  umount "$m"
  losetup -d "$dev"
  rm -f "$m.img"
}

"$root/scripts/install-deps.sh" >/dev/null
# VirtPool ships as native AOT binaries (virtpool, virtpoold): the VirtPool side runs the library compiled
# the same way, so it measures the shipped code, not the JIT re-compiling hot methods in mid-run.
dotnet publish "$root/bench/VirtPool.Bench" -c Release -p:PublishAot=true -o "$work/bench-bin" -nologo -v quiet >/dev/null
bench="$work/bench-bin/VirtPool.Bench"
uri=$("$root/scripts/libvirtd-up.sh" "$work/libvirtd")
lv() { /usr/bin/python3 "$root/bench/libvirt_side.py" "$uri" "$@"; }
field() { awk '{print $2}' <<<"$1"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

# side MODE RUNNER...: three rounds of one mode on fresh filesystems; prints the median seconds.
side() {
  local label=$1; shift
  local times=() r
  for r in 1 2 3; do
    fresh_fs "$label$r" "${FS:-ext4}"
    times+=("$(field "$("$@" "$work/$label$r/d")")")
    drop_fs "$work/$label$r"
  done
  median "${times[@]}"
}

echo "== qcow2 create: $N volumes of 1 GiB =="
# The floor of a durable qcow2 create on this filesystem: the same bytes written plainly to a new file
# and fsynced, nothing else. A created image must survive a crash (qemu-img fdatasyncs it four times),
# so no create of this image beats it. The three sides take turns, each round on fresh filesystems,
# so a slow minute of the disk falls on all of them; the median round of each side counts.
vps=(); lvs=(); pls=()
mkdir -p /run/virtpool-bench
for r in 1 2 3; do
  sync
  fresh_fs "vpq$r"
  vps+=("$(field "$(BENCH_RUNTIME_DIR=/run/virtpool-bench/q$r $bench qcow2-create "$work/vpq$r/d" "$N")")")
  drop_fs "$work/vpq$r"; sync
  fresh_fs "plq$r"; pls+=("$(field "$($bench qcow2-floor "$work/plq$r/d" "$N")")"); drop_fs "$work/plq$r"; sync
  fresh_fs "lvq$r"; lvs+=("$(field "$(lv qcow2-create "$work/lvq$r/d" "$N")")"); drop_fs "$work/lvq$r"
done
rm -rf /run/virtpool-bench
vp=$(median "${vps[@]}"); l=$(median "${lvs[@]}"); pl=$(median "${pls[@]}")
echo "rounds (s): VirtPool ${vps[*]}; libvirtd ${lvs[*]}; floor ${pls[*]}"
printf '%-36s %8.3f s  %8.0f ops/s\n' "VirtPool (native qcow2 writer)" "$vp" "$(ratio "$N" "$vp")" "libvirtd (qemu-img create)" "$l" "$(ratio "$N" "$l")" \
  "same bytes, write+fsync (floor)" "$pl" "$(ratio "$N" "$pl")"
echo "VirtPool/libvirt throughput: $(ratio "$l" "$vp")x  (goal >= 10)   floor/libvirt: $(ratio "$l" "$pl")x   VirtPool/floor: $(ratio "$pl" "$vp")"

run_mode() { local mode=$1 dir=$2; $bench "$mode" "$dir" "$MIB"; }
lv_mode() { local mode=$1 dir=$2; lv "$mode" "$dir" "$MIB"; }

echo "== clone a $MIB MiB raw volume (ext4: no reflink, copy_file_range) =="
c=$(side cpc run_mode cp-clone); v=$(side vpc run_mode clone); l=$(side lvc lv_mode clone)
printf '%-36s %8.3f s\n' "cp + sync" "$c" "VirtPool clone" "$v" "libvirtd clone" "$l"
echo "VirtPool/(cp+sync) time: $(ratio "$v" "$c")  (goal <= 1.10)   libvirt/VirtPool: $(ratio "$l" "$v")x"

echo "== clone with reflink (xfs): $MIB MiB vs 4x that =="
v1=$(FS=xfs side vpr run_mode clone)
base_mib=$MIB; MIB=$((base_mib * 4))
v4=$(FS=xfs side vpr4 run_mode clone)
MIB=$base_mib
ms() { python3 -c "print(f'{$1*1000:.2f}')"; }
printf '%-36s %8s ms\n' "VirtPool clone, $MIB MiB" "$(ms "$v1")" "VirtPool clone, $((MIB * 4)) MiB" "$(ms "$v4")"
# Both are a millisecond or two (xfs shares extents): against a copy's seconds, that is O(1).
echo "time(4x size)/time(1x size): $(ratio "$v4" "$v1")   (a copy of $MIB MiB, cp+sync above: $c s)"

echo "== wipe (zero) a written $MIB MiB raw volume =="
v=$(side vpw run_mode wipe); l=$(side lvw lv_mode wipe)
printf '%-36s %8.3f s\n' "VirtPool wipe" "$v" "libvirtd wipe" "$l"
echo "VirtPool/libvirt speed: $(ratio "$l" "$v")x  (goal >= 10)"

echo "== upload / download $MIB MiB, local file <-> volume =="
cu=$(side cpu run_mode cp-upload); vu=$(side vpu run_mode upload); lu=$(side lvu lv_mode upload)
cd_=$(side cpd run_mode cp-download); vd=$(side vpd run_mode download); ld=$(side lvd lv_mode download)
mbs() { python3 -c "print(f'{$MIB*1048576/$1/1e6:.0f}')"; }
printf '%-36s %8.3f s  %6s MB/s\n' "cp file -> volume" "$cu" "$(mbs "$cu")" "VirtPool upload" "$vu" "$(mbs "$vu")" "libvirtd upload (stream)" "$lu" "$(mbs "$lu")" \
  "cp volume -> file" "$cd_" "$(mbs "$cd_")" "VirtPool download" "$vd" "$(mbs "$vd")" "libvirtd download (stream)" "$ld" "$(mbs "$ld")"
echo "upload VirtPool/cp throughput: $(ratio "$cu" "$vu")  download: $(ratio "$cd_" "$vd")  (goal >= 0.90)"
