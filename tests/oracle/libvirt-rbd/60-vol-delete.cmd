virsh vol-delete vol3 --pool rbdpool
