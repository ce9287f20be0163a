virsh pool-refresh zfspool
