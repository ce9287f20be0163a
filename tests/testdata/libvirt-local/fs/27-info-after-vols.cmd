virsh pool-info fsext4
