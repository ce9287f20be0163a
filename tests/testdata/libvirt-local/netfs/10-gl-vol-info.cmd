virsh vol-info raw1 --pool netgl
