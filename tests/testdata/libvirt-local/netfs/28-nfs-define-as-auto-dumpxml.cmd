virsh pool-dumpxml --inactive netauto
