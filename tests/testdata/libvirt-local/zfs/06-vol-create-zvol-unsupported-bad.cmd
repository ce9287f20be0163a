virsh vol-create-as zfspool zv1 64M
