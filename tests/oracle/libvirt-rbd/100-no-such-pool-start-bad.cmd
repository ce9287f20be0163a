virsh pool-start rbdnopool
