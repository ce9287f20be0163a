virsh pool-undefine netauto
