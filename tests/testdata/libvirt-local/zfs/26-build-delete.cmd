virsh pool-delete zfsbuilt
