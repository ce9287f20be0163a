virsh pool-dumpxml zfsbuilt
