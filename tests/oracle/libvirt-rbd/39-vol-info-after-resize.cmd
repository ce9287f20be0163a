virsh vol-info vol1 --pool rbdpool --bytes
