virsh pool-dumpxml diskdos
