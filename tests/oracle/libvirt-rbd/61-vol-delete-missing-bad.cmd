virsh vol-delete nosuch --pool rbdpool
