virsh pool-undefine lvpool
