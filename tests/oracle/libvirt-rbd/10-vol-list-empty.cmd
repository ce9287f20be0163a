virsh vol-list rbdpool --details
