virsh vol-dumpxml imported --pool rbdpool
