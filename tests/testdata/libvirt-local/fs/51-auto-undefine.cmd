virsh pool-undefine fsauto
