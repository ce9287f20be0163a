virsh pool-dumpxml netgl
