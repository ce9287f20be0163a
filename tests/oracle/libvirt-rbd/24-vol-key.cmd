virsh vol-key vol1 --pool rbdpool
