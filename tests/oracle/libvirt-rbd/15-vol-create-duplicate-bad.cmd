virsh vol-create-as rbdpool vol1 10M
