virsh pool-dumpxml diskdos4
