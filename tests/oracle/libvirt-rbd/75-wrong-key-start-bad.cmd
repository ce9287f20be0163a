virsh pool-start rbdwrongkey
