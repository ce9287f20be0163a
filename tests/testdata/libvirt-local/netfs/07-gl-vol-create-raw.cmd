virsh vol-create-as netgl raw1 10M
