virsh pool-undefine zfsbuilt
