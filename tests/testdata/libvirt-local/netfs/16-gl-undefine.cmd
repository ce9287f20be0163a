virsh pool-undefine netgl
