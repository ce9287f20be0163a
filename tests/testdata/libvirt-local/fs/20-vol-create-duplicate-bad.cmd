virsh vol-create-as fsext4 raw1 10M
