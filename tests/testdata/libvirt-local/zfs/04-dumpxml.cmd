virsh pool-dumpxml zfspool
