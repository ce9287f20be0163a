virsh pool-dumpxml rbdpool
