virsh pool-build fsext4 --overwrite
