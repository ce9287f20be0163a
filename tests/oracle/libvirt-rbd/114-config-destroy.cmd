virsh pool-destroy rbdconfig
