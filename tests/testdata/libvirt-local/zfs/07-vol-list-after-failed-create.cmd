virsh vol-list zfspool --details
