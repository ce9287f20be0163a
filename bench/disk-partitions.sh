#!/usr/bin/env bash
# Disk pools: 16 partitions created and listed, through libvirtd 9.0 and through virtpoold, with the
# same python3-libvirt client (one connection per side), each side on its own 1 GiB loop device
# (losetup -P). Per round: pool destroyed, rebuilt (--overwrite) and started untimed; then timed:
# 16 storageVolCreateXML (gpt: 16 primaries of 8 MiB; dos: 3 primaries, an extended of 600 MiB and 12
# logicals) and one listAllVolumes with info() of each. Goal (issue 11): VirtPool <= 0.5x libvirtd.
# Needs root. Usage: bench/disk-partitions.sh [--rounds N] [--labels "gpt dos"]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=5
labels="gpt dos"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --labels) labels=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /var/tmp/virtpool-bench-disk.XXXXXX)
vp_pid=
loops=()
cleanup() {
  [ -n "$vp_pid" ] && kill "$vp_pid" 2>/dev/null && wait "$vp_pid" 2>/dev/null || true
  "$root/scripts/libvirtd-down.sh" "$work/lv" >/dev/null 2>&1 || true
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
daemon="$root/artifacts/daemon/virtpoold"

# Not in a $(...) subshell: the loops array must learn of each device for the cleanup.
attach() {
  truncate -s 1G "$work/$1.img"
  attached=$(losetup -P -f --show "$work/$1.img")
  loops+=("$attached")
}
attach lv; lv_dev=$attached
attach vp; vp_dev=$attached

lv_uri=$("$root/scripts/libvirtd-up.sh" "$work/lv")
mkdir -p "$work/vp"
"$daemon" --socket "$work/vp/sock" --state-dir "$work/vp/state" --pid-file "$work/vp/pid" >"$work/vp/log" 2>&1 &
vp_pid=$!
vp_uri="qemu+unix:///system?socket=$work/vp/sock"
for _ in $(seq 1 300); do [ -S "$work/vp/sock" ] && virsh -q -c "$vp_uri" uri >/dev/null 2>&1 && break; sleep 0.05; done

echo "disk-partitions: $rounds rounds, 16 partitions each; libvirtd on $lv_dev, virtpoold on $vp_dev"
for label in $labels; do
  /usr/bin/python3 - "$label" "$rounds" "$lv_uri" "$lv_dev" "$vp_uri" "$vp_dev" <<'PY'
import statistics, sys, time
import libvirt

label, rounds, sides = sys.argv[1], int(sys.argv[2]), [("libvirtd", sys.argv[3], sys.argv[4]), ("virtpoold", sys.argv[5], sys.argv[6])]

def volumes(dev):
    name = dev.rsplit('/', 1)[-1]
    if label == 'gpt':
        return [(f"{name}p{n}", 8, None) for n in range(1, 17)]
    plan = [(f"{name}p{n}", 8, None) for n in range(1, 4)] + [(f"{name}p4", 600, 'extended')]
    return plan + [(f"{name}p{n}", 8, None) for n in range(5, 17)]

def xml(name, mib, fmt):
    target = f"<target><format type='{fmt}'/></target>" if fmt else ""
    return f"<volume><name>{name}</name><capacity unit='MiB'>{mib}</capacity>{target}</volume>"

times = {}
for side, uri, dev in sides:
    conn = libvirt.open(uri)
    pool = conn.storagePoolDefineXML(
        f"<pool type='disk'><name>bench{label}</name><source><device path='{dev}'/><format type='{label}'/></source>"
        f"<target><path>/dev</path></target></pool>")
    samples = []
    for _ in range(rounds):
        if pool.isActive():
            pool.destroy()
        pool.build(libvirt.VIR_STORAGE_POOL_BUILD_OVERWRITE)
        pool.create()
        start = time.perf_counter()
        for name, mib, fmt in volumes(dev):
            pool.createXML(xml(name, mib, fmt))
        listed = pool.listAllVolumes()
        for vol in listed:
            vol.info()
        samples.append(time.perf_counter() - start)
        assert len(listed) == 16, f"{side}: {len(listed)} volumes listed"
    pool.destroy()
    pool.delete()
    pool.undefine()
    conn.close()
    times[side] = statistics.median(samples)
    print(f"  {label} {side:10} median {times[side] * 1000:8.1f} ms  (rounds: {', '.join(f'{s * 1000:.1f}' for s in samples)})")
print(f"  {label} ratio virtpoold/libvirtd = {times['virtpoold'] / times['libvirtd']:.2f}  (goal <= 0.50)")
PY
done
