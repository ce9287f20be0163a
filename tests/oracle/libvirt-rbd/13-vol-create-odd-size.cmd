virsh vol-create-as rbdpool vol3 1537K --format raw
