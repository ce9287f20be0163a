virsh pool-delete lvpool
