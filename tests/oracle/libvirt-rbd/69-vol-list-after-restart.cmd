virsh vol-list rbdpool
