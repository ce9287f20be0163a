virsh pool-destroy lvpool
