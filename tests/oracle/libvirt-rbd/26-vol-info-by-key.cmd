virsh vol-info rbd/vol1
