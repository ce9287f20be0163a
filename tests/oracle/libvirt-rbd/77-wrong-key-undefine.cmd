virsh pool-undefine rbdwrongkey
