virsh vol-list lvpool --details
