#!/usr/bin/env bash
# Installs what the build, the tests and the benchmarks need on Debian 12 (idempotent).
#   install-deps.sh          everything (scripts/test.sh runs this)
#   install-deps.sh build    only what building the NativeAOT binaries needs (scripts/demo.sh runs this)
# libvirt is the oracle of the differential tests and the baseline of bench/; it is never started by
# the package (no systemd here): the tests start their own libvirtd with scripts/libvirtd-up.sh.
set -euo pipefail
# NativeAOT links with clang and zlib.
build=(clang zlib1g-dev)
# The storage drivers for rbd, gluster, iscsi-direct and zfs are separate packages Debian only
# suggests: without them the oracle answers "missing backend for pool type" for those pool types.
pkgs=("${build[@]}"
      libvirt-daemon libvirt-daemon-system libvirt-clients qemu-utils python3-libvirt
      libvirt-daemon-driver-storage-rbd libvirt-daemon-driver-storage-gluster
      libvirt-daemon-driver-storage-iscsi-direct libvirt-daemon-driver-storage-zfs
      hyperfine xfsprogs btrfs-progs e2fsprogs util-linux
      # The local pool types' tools (fs, netfs, disk, logical, zfs), and the services their tests start
      # on 127.0.0.1 (glusterd for netfs/glusterfs, nfs-ganesha for NFS export lists, zfs-fuse);
      # iproute2: the private network namespace tests/services/nfs-up.sh runs them in.
      dosfstools parted lvm2 zfs-fuse glusterfs-server glusterfs-client nfs-common
      nfs-ganesha nfs-ganesha-vfs rpcbind iproute2
      # The network pool types: their client libraries (called by soname through P/Invoke) and the
      # servers their tests start on 127.0.0.1: a single-node Ceph (mon + memstore OSD), tgtd for
      # iSCSI; open-iscsi's iscsiadm is what the kernel-initiator iscsi type runs.
      librados2 librbd1 libgfapi0 libiscsi7 ceph-mon ceph-osd ceph-common uuid-runtime
      tgt libiscsi-bin open-iscsi
      ansible python3-lxml golang-go golang-github-digitalocean-go-libvirt-dev)
case "${1:-all}" in
  build) pkgs=("${build[@]}") ;;
  all) ;;
  *) echo "usage: install-deps.sh [build]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts must not start daemons: there is no init system to hand them to.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  for attempt in 1 2 3; do
    if apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; then break; fi
    [ "$attempt" = 3 ] && { echo "apt-get install failed" >&2; exit 1; }
    sleep 5
  done
  rm -f /usr/sbin/policy-rc.d
fi
command -v dotnet >/dev/null || { echo "the .NET SDK (global.json) is required" >&2; exit 1; }
