#!/usr/bin/env bash
# Logical pools: refresh of a volume group holding 500 LVs (made with activation off: this kernel has
# no device-mapper), through libvirtd 9.0 and through virtpoold with the same python3-libvirt client,
# against a bare run of the same `lvs` libvirt runs. One VG on a 4 GiB loop PV (a sparse file); each daemon starts its
# pool while the VG is empty (libvirtd's start fails once an LV exists here), then the LVs are added.
# Timed per round: storagePoolRefresh + listAllVolumes + info() of each volume.
#   libvirtd, virtpoold     host LVM configuration: both skip the inactive LVs (libvirt's rule), so
#                           both parse 500 lvs rows and list none
#   virtpoold (metadata)    LVM_SYSTEM_DIR with activation = 0: VirtPool lists all 500 LVs
#   lvs, lvs (metadata)     the bare lvs of each configuration
# Goal (issue 11): refresh <= 1.2x lvs alone. libvirt runs lvs then vgs (two LVM device scans);
# VirtPool one lvs with the group's size and free space as two more columns. Needs root.
# Usage: bench/logical-refresh.sh [--rounds N] [--lvs N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=7
count=500
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --lvs) count=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /var/tmp/virtpool-bench-c11lv.XXXXXX)
vg="c11lvbench$$"
loop=
pids=()
conf() { echo "global{activation=0} devices{use_devicesfile=0 filter=[\"a|^$loop\$|\",\"r|.*|\"]}"; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  "$root/scripts/libvirtd-down.sh" "$work/lv" >/dev/null 2>&1 || true
  if [ -n "$loop" ]; then
    vgremove -f -q --config "$(conf)" "$vg" >/dev/null 2>&1 || true
    pvremove -ff -y -q --config "$(conf)" "$loop" >/dev/null 2>&1 || true
    losetup -d "$loop" 2>/dev/null || true
  fi
  rm -f /etc/lvm/archive/"$vg"_*.vg /etc/lvm/backup/"$vg"
  rm -rf "$work"
}
trap cleanup EXIT
export LVM_SUPPRESS_FD_WARNINGS=1

"$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
daemon="$root/artifacts/daemon/virtpoold"

truncate -s 4G "$work/pv.img"
loop=$(losetup -f --show "$work/pv.img")
pvcreate -q --config "$(conf)" "$loop" 2>/dev/null
vgcreate -q --config "$(conf)" "$vg" "$loop" 2>/dev/null
mkdir -p "$work/lvm"
echo "$(conf)" | sed 's/} devices/}\ndevices/' > "$work/lvm/lvm.conf"

lv_uri=$("$root/scripts/libvirtd-up.sh" "$work/lv")
# Not in a $(...) subshell: the pids array must learn of each daemon for the cleanup.
start_virtpoold() {   # NAME [env...]; sets started_uri
  local name=$1; shift
  mkdir -p "$work/$name"
  env "$@" "$daemon" --socket "$work/$name/sock" --state-dir "$work/$name/state" --pid-file "$work/$name/pid" >"$work/$name/log" 2>&1 &
  pids+=($!)
  started_uri="qemu+unix:///system?socket=$work/$name/sock"
  for _ in $(seq 1 300); do [ -S "$work/$name/sock" ] && virsh -q -c "$started_uri" uri >/dev/null 2>&1 && break; sleep 0.05; done
}
start_virtpoold vp; vp_uri=$started_uri
start_virtpoold md LVM_SYSTEM_DIR="$work/lvm"; md_uri=$started_uri

/usr/bin/python3 - "$vg" "$loop" start "$lv_uri" "$vp_uri" "$md_uri" <<'PY'
import sys, libvirt
vg, dev = sys.argv[1], sys.argv[2]
for uri in sys.argv[4:]:
    conn = libvirt.open(uri)
    conn.storagePoolCreateXML(f"<pool type='logical'><name>bench</name><source><device path='{dev}'/><name>{vg}</name>"
                              f"<format type='lvm2'/></source><target><path>/dev/{vg}</path></target></pool>")
    conn.close()
PY

echo "logical-refresh: adding $count metadata-only LVs to $vg on $loop ..."
# One vgcfgrestore of the group's metadata with the LVs added (one lvcreate each would take minutes).
vgcfgbackup -q --config "$(conf)" -f "$work/meta.vg" "$vg" >/dev/null 2>&1
/usr/bin/python3 - "$work/meta.vg" "$count" <<'PY'
import random, string, sys
path, count = sys.argv[1], int(sys.argv[2])
text = open(path).read()
rng = random.Random(11)
def uuid():
    s = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    return "-".join([s[:6], s[6:10], s[10:14], s[14:18], s[18:22], s[22:26], s[26:]])
lvs = "".join(
    f'\t\tlv{i} {{\n\t\t\tid = "{uuid()}"\n\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]\n\t\t\tflags = []\n'
    f'\t\t\tsegment_count = 1\n\t\t\tsegment1 {{\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 1\n'
    f'\t\t\t\ttype = "striped"\n\t\t\t\tstripe_count = 1\n\t\t\t\tstripes = [\n\t\t\t\t\t"pv0", {i - 1}\n\t\t\t\t]\n\t\t\t}}\n\t\t}}\n'
    for i in range(1, count + 1))
end = text.rindex("}")
open(path, "w").write(text[:end] + "\tlogical_volumes {\n" + lvs + "\t}\n" + text[end:])
PY
vgcfgrestore -q --config "$(conf)" -f "$work/meta.vg" "$vg" >/dev/null 2>&1
made=$(lvs --noheadings --config "$(conf)" "$vg" 2>/dev/null | wc -l)
[ "$made" = "$count" ] || { echo "only $made LVs were made" >&2; exit 1; }

/usr/bin/python3 - "$rounds" "$count" "$vg" "$work/lvm" "$lv_uri" "$vp_uri" "$md_uri" <<'PY'
import os, statistics, subprocess, sys, time
import libvirt

rounds, count, vg, lvmdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
sides = [("libvirtd", sys.argv[5], 0), ("virtpoold", sys.argv[6], 0), ("virtpoold (metadata)", sys.argv[7], count)]
lvs = ["/sbin/lvs", "--separator", "#", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix", "--options",
       "lv_name,origin,uuid,devices,segtype,stripes,seg_size,vg_extent_size,size,lv_attr", vg]
times = {}

def bare(name, env):
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = subprocess.run(lvs, env=env, check=True, capture_output=True, text=True).stdout
        samples.append(time.perf_counter() - start)
        assert out.count("\n") == count, f"{name}: {out.count(chr(10))} rows"
    report(name, samples)

def report(name, samples):
    times[name] = statistics.median(samples)
    print(f"  {name:24} median {times[name] * 1000:8.1f} ms  (rounds: {', '.join(f'{s * 1000:.1f}' for s in samples)})")

env = dict(os.environ, LC_ALL="C")
bare("lvs", env)
bare("lvs (metadata)", dict(env, LVM_SYSTEM_DIR=lvmdir))
for side, uri, expected in sides:
    conn = libvirt.open(uri)
    pool = conn.storagePoolLookupByName("bench")
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        pool.refresh(0)
        listed = pool.listAllVolumes()
        for vol in listed:
            vol.info()
        samples.append(time.perf_counter() - start)
        assert len(listed) == expected, f"{side}: {len(listed)} volumes listed, expected {expected}"
    cap, alloc = pool.info()[1:3]
    pool.destroy() if side != "libvirtd" else None
    conn.close()
    report(side, samples)
print(f"  ratio virtpoold/libvirtd             = {times['virtpoold'] / times['libvirtd']:.2f}")
print(f"  ratio virtpoold/lvs                  = {times['virtpoold'] / times['lvs']:.2f}  (goal <= 1.20)")
print(f"  ratio libvirtd/lvs                   = {times['libvirtd'] / times['lvs']:.2f}")
print(f"  ratio virtpoold (metadata)/lvs (md)  = {times['virtpoold (metadata)'] / times['lvs (metadata)']:.2f}  (lists all {count})")
PY
