virsh vol-list fsext4 --details
