virsh pool-dumpxml --inactive rbdas
