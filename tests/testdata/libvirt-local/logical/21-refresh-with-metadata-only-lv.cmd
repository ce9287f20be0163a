virsh pool-refresh lvpool
