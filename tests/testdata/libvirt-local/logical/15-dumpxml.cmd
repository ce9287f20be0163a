virsh pool-dumpxml lvpool
