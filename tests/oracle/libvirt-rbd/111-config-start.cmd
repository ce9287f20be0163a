virsh pool-start rbdconfig
