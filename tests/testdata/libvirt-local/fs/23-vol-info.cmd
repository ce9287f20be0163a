virsh vol-info raw1 --pool fsext4
