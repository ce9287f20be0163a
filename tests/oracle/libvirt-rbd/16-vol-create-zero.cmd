virsh vol-create-as rbdpool vol0 0
