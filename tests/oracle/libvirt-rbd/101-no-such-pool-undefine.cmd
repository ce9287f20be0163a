virsh pool-undefine rbdnopool
