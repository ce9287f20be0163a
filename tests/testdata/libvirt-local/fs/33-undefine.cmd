virsh pool-undefine fsext4
