virsh pool-undefine rbdas
