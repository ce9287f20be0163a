virsh pool-start lvpool
