virsh pool-destroy fsext4
