virsh pool-undefine zfspool
