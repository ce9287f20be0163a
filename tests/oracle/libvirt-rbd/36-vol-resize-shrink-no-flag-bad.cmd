virsh vol-resize vol1 32M --pool rbdpool
