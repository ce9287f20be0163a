virsh vol-info vol1clone --pool rbdpool
