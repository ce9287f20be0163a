virsh pool-delete fsext4
