virsh vol-wipe imported --pool rbdpool
