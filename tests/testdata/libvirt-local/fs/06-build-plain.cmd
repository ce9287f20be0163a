virsh pool-build fsext4
