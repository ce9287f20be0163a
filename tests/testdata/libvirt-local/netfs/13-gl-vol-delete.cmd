virsh vol-delete raw1 --pool netgl
