virsh vol-dumpxml vol1 --pool rbdpool
