virsh vol-info nosuch --pool rbdpool
