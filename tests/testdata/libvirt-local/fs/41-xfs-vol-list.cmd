virsh vol-list fsxfs --details
