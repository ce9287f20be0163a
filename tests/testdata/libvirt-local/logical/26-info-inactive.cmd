virsh pool-info lvpool
