virsh vol-name rbd/vol1
