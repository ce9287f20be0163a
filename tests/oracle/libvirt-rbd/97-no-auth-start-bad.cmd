virsh pool-start rbdnoauth
