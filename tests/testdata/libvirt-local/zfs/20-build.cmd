virsh pool-build zfsbuilt
