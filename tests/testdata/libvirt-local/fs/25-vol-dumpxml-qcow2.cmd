virsh vol-dumpxml qcow1 --pool fsext4
