virsh pool-build lvpool
