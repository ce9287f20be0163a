virsh pool-start zfspool
