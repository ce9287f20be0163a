virsh pool-build fsauto
