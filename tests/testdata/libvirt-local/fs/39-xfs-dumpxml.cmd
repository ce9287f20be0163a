virsh pool-dumpxml fsxfs
