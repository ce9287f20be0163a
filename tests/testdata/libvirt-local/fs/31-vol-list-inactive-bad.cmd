virsh vol-list fsext4
