virsh pool-dumpxml lvbyname
