virsh pool-dumpxml --inactive rbdconfig
