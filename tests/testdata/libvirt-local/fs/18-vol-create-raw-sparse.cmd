virsh vol-create-as fsext4 raw2 10M --allocation 0
