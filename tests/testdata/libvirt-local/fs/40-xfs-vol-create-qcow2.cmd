virsh vol-create-as fsxfs qcow1 20M --format qcow2
