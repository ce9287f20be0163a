virsh pool-refresh fsext4
