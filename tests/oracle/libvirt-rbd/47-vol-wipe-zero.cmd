virsh vol-wipe vol2 --pool rbdpool --algorithm zero
