virsh pool-info zfspool
