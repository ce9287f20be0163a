virsh vol-create-as fsext4 bad1 10M --format nosuch
