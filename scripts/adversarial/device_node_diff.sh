#!/usr/bin/env bash
# A dir pool whose directory holds a block-device node (a loop device of an odd size, filled with
# 0xAA): vol-info, vol-wipe, vol-upload at and past the end, vol-download through virsh against
# libvirtd and virtpoold, each on its own loop device. Prints both outputs and the device's sha256.
# Usage: device_node_diff.sh LIBVIRTD_URI VIRTPOOLD_URI WORKDIR    (cleans up its loops and pools)
set -uo pipefail
lv=$1; vp=$2; work=$3
mkdir -p "$work"
loops=()
cleanup() {
  for u in "$lv" "$vp"; do virsh -q -c "$u" pool-destroy advnode >/dev/null 2>&1; virsh -q -c "$u" pool-undefine advnode >/dev/null 2>&1; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
size=$((1024 * 1024 + 512))   # not a multiple of 4 KiB
head -c 3000 /dev/urandom > "$work/small.bin"
for who in lv vp; do
  uri=$lv; [ $who = vp ] && uri=$vp
  img=$work/$who.img; head -c $size /dev/zero | tr '\0' '\252' > "$img"
  dev=$(losetup -f --show "$img"); loops+=("$dev")
  mkdir -p "$work/$who-pool"
  mknod "$work/$who-pool/node" b $((16#$(stat -c %t "$dev"))) $((16#$(stat -c %T "$dev")))
  virsh -q -c "$uri" pool-create-as advnode dir --target "$work/$who-pool" >/dev/null
  {
    echo "== vol-info"; virsh -c "$uri" vol-info node --pool advnode 2>&1
    echo "== upload 3000 B at 1 MiB (crosses the end)"; virsh -c "$uri" vol-upload node "$work/small.bin" --pool advnode --offset 1048576 2>&1; echo "rc=$?"
    echo "== upload at the end"; virsh -c "$uri" vol-upload node "$work/small.bin" --pool advnode --offset $size 2>&1; echo "rc=$?"
    echo "== upload 100 B at 1000"; head -c 100 "$work/small.bin" > "$work/$who.100"; virsh -c "$uri" vol-upload node "$work/$who.100" --pool advnode --offset 1000 2>&1; echo "rc=$?"
    echo "== download from end-100"; virsh -c "$uri" vol-download node "$work/$who.dl" --pool advnode --offset $((size - 100)) 2>&1; echo "rc=$? bytes=$(stat -c %s "$work/$who.dl" 2>/dev/null)"
    echo "== download past end"; virsh -c "$uri" vol-download node "$work/$who.dl2" --pool advnode --offset $((size + 4096)) 2>&1; echo "rc=$? bytes=$(stat -c %s "$work/$who.dl2" 2>/dev/null)"
    echo "== sha after uploads"; sha256sum < "$dev" | cut -c1-16
    echo "== wipe zero"; virsh -c "$uri" vol-wipe node --pool advnode 2>&1; echo "rc=$?"
    echo "== sha after wipe"; sha256sum < "$dev" | cut -c1-16
    echo "== vol-info after"; virsh -c "$uri" vol-info node --pool advnode 2>&1
    echo "== read-only device"; losetup -d "$dev"; dev2=$(losetup -r -f --show "$img"); loops+=("$dev2")
    rm "$work/$who-pool/node"; mknod "$work/$who-pool/node" b $((16#$(stat -c %t "$dev2"))) $((16#$(stat -c %T "$dev2")))
    virsh -c "$uri" pool-refresh advnode >/dev/null 2>&1
    virsh -c "$uri" vol-wipe node --pool advnode 2>&1; echo "rc=$?"
    virsh -c "$uri" vol-upload node "$work/$who.100" --pool advnode 2>&1; echo "rc=$?"
  } > "$work/../node.$who.txt" 2>&1
done
diff "$work/../node.lv.txt" "$work/../node.vp.txt" && echo "no differences"
