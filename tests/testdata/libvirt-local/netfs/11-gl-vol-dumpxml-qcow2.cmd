virsh vol-dumpxml qcow1 --pool netgl
