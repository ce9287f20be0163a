virsh pool-dumpxml fsauto
