virsh pool-delete diskdos
