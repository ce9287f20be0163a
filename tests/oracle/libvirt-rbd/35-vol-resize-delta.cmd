virsh vol-resize vol1 --delta 16M --pool rbdpool
