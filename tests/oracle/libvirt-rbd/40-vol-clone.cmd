virsh vol-clone vol1 vol1clone --pool rbdpool
