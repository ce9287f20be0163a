virsh pool-start rbdpool
