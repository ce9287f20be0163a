virsh vol-resize vol1 128M --pool rbdpool
