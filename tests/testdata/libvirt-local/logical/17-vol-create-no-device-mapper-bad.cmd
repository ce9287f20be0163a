virsh vol-create-as lvpool lv1 10M
