virsh vol-create-as rbdpool vol1 64M
