virsh vol-resize vol1 256M --pool rbdpool --allocate
