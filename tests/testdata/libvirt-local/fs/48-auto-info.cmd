virsh pool-info fsauto
