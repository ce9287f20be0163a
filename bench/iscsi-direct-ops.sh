#!/usr/bin/env bash
# iscsi-direct pools on a private tgtd (tests/services/iscsi-up.sh: LUN 1 64 MiB, LUN 2 32 MiB) through
# real virsh, libvirtd 9.0 beside the NativeAOT virtpoold. Needs root.
#   refresh   N x storagePoolRefresh from one python3-libvirt client: libvirtd logs in and out for
#             every operation, virtpoold keeps one session per pool (ratio printed)
#   wipe      virsh vol-wipe of the 32 MiB LUN: libvirt writes 64 KiB a WRITE(16), VirtPool 1 MiB
#   download  virsh vol-download of the 64 MiB LUN through virtpoold against qemu-img convert from
#             iscsi:// (libvirt has no download on iscsi-direct), MB/s
#   upload    virsh vol-upload of a 64 MiB file of random data to the LUN through virtpoold against
#             qemu-img convert to iscsi://, MB/s (the qemu-img side needs qemu-block-extra)
#   rss       virtpoold's resident memory with the pool active
# Usage: bench/iscsi-direct-ops.sh [--rounds N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=10
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /var/tmp/virtpool-bench-iscsid.XXXXXX)
vp_pid=
cleanup() {
  [ -n "$vp_pid" ] && kill "$vp_pid" 2>/dev/null && wait "$vp_pid" 2>/dev/null || true
  "$root/scripts/libvirtd-down.sh" "$work/lv" >/dev/null 2>&1 || true
  "$root/tests/services/iscsi-down.sh" "$work/tgt" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$root/virtpoold" --help >/dev/null 2>&1 || true   # builds the NativeAOT daemon when needed
daemon="$root/artifacts/daemon/virtpoold"
"$root/tests/services/iscsi-up.sh" "$work/tgt" >/dev/null
# shellcheck disable=SC1091
. "$work/tgt/iscsi.env"
initiator=iqn.2026-12.org.virtpool.bench:initiator

lv_uri=$("$root/scripts/libvirtd-up.sh" "$work/lv" | tail -n 1)
mkdir -p "$work/vp"
"$daemon" --socket "$work/vp/sock" --state-dir "$work/vp/state" --pid-file "$work/vp/pid" >"$work/vp/log" 2>&1 &
vp_pid=$!
vp_uri="qemu+unix:///system?socket=$work/vp/sock"
for _ in $(seq 1 300); do [ -S "$work/vp/sock" ] && virsh -q -c "$vp_uri" uri >/dev/null 2>&1 && break; sleep 0.05; done

cat > "$work/pool.xml" <<XML
<pool type='iscsi-direct'><name>bench</name><source><host name='127.0.0.1'/><device path='$IQN_PLAIN'/>
<initiator><iqn name='$initiator'/></initiator></source></pool>
XML
for uri in "$lv_uri" "$vp_uri"; do virsh -q -c "$uri" pool-create "$work/pool.xml" >/dev/null; done

now() { date +%s.%N; }
# seconds a command takes, best of 3
best() {
  local b=
  for _ in 1 2 3; do
    local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now)
    b=$(python3 -c "t=$t1-$t0; b='$b'; print(t if b=='' or t<float(b) else b)")
  done
  echo "$b"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
ms() { python3 -c "print(f'{$1*1000:.1f}')"; }
mbps() { python3 -c "print(f'{$1/1048576/$2:.0f}')"; }

# seconds per storagePoolRefresh, median of N from one connection
refresh() {
  /usr/bin/python3 - "$1" "$rounds" <<'PY'
import libvirt, statistics, sys, time
conn = libvirt.open(sys.argv[1]); pool = conn.storagePoolLookupByName("bench"); times = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter(); pool.refresh(0); times.append(time.perf_counter() - t0)
print(statistics.median(times))
PY
}
t_lv=$(refresh "$lv_uri"); t_vp=$(refresh "$vp_uri")
echo "refresh (median of $rounds storagePoolRefresh): libvirtd $(ms "$t_lv") ms, virtpoold $(ms "$t_vp") ms, libvirtd/virtpoold $(ratio "$t_lv" "$t_vp")"

t_lv=$(best virsh -q -c "$lv_uri" vol-wipe unit:0:0:2 --pool bench); t_vp=$(best virsh -q -c "$vp_uri" vol-wipe unit:0:0:2 --pool bench)
echo "wipe (32 MiB LUN, best of 3): libvirtd $(ms "$t_lv") ms, virtpoold $(ms "$t_vp") ms, libvirtd/virtpoold $(ratio "$t_lv" "$t_vp")"

bytes=$((64 << 20))
head -c "$bytes" /dev/urandom > "$work/data.raw"
qemu=yes
qemu-img info "iscsi://127.0.0.1:3260/$IQN_PLAIN/1" >/dev/null 2>&1 || qemu="no (qemu-img has no iscsi driver: install qemu-block-extra)"
t_vp=$(best virsh -q -c "$vp_uri" vol-upload unit:0:0:1 "$work/data.raw" --pool bench)
cmp "$work/tgt/plain-lun1.img" "$work/data.raw"
if [ "$qemu" = yes ]; then
  t_q=$(best qemu-img convert -n -f raw -O raw "$work/data.raw" "iscsi://127.0.0.1:3260/$IQN_PLAIN/1")
  echo "upload 64 MiB: virtpoold $(mbps $bytes "$t_vp") MB/s, qemu-img $(mbps $bytes "$t_q") MB/s, virtpoold/qemu-img $(ratio "$t_q" "$t_vp")"
else
  echo "upload 64 MiB: virtpoold $(mbps $bytes "$t_vp") MB/s; baseline: $qemu"
fi
t_vp=$(best virsh -q -c "$vp_uri" vol-download unit:0:0:1 "$work/out.raw" --pool bench)
cmp "$work/out.raw" "$work/data.raw"
if [ "$qemu" = yes ]; then
  t_q=$(best qemu-img convert -f raw -O raw "iscsi://127.0.0.1:3260/$IQN_PLAIN/1" "$work/out-q.raw")
  cmp "$work/out-q.raw" "$work/data.raw"
  echo "download 64 MiB: virtpoold $(mbps $bytes "$t_vp") MB/s, qemu-img $(mbps $bytes "$t_q") MB/s, virtpoold/qemu-img $(ratio "$t_q" "$t_vp")"
else
  echo "download 64 MiB: virtpoold $(mbps $bytes "$t_vp") MB/s; baseline: $qemu"
fi

echo "virtpoold RSS with the pool active: $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$vp_pid/status")"
for uri in "$lv_uri" "$vp_uri"; do virsh -q -c "$uri" pool-destroy bench >/dev/null; done
