virsh vol-dumpxml raw1 --pool fsext4
