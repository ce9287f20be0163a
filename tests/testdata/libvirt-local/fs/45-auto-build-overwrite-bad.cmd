virsh pool-build fsauto --overwrite
