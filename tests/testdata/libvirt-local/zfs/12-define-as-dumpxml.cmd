virsh pool-dumpxml --inactive zfsas
