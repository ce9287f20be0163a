virsh pool-build fsext4 --no-overwrite
