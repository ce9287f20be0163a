virsh vol-create-as rbdpool vol2 10M --allocation 0
