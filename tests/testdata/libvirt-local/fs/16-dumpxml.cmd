virsh pool-dumpxml fsext4
