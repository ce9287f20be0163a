virsh pool-undefine rbdconfig
