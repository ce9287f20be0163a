virsh pool-build fsext4 --overwrite --no-overwrite
