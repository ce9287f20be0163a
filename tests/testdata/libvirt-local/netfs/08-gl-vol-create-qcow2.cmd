virsh vol-create-as netgl qcow1 20M --format qcow2
