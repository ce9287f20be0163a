virsh vol-dumpxml vol1clone --pool rbdpool
