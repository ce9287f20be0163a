virsh pool-start zfsbuilt
