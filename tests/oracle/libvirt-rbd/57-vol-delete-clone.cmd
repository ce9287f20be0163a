virsh vol-delete vol1clone --pool rbdpool
