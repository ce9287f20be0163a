virsh pool-info zfsbuilt
