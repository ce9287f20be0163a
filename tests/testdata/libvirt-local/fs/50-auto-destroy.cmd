virsh pool-destroy fsauto
