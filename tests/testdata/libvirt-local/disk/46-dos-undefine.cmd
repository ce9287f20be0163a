virsh pool-undefine diskdos
