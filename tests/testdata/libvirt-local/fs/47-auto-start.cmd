virsh pool-start fsauto
