virsh vol-list diskdos --details
