virsh pool-start fsext4
