virsh pool-dumpxml --inactive lvas
