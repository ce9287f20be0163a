virsh vol-info vol3 --pool rbdpool --bytes
