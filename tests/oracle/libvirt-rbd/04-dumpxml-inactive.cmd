virsh pool-dumpxml --inactive rbdpool
