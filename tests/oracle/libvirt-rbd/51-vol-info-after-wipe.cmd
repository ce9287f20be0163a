virsh vol-info imported --pool rbdpool
