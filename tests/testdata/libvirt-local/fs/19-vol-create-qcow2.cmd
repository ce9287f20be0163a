virsh vol-create-as fsext4 qcow1 20M --format qcow2
