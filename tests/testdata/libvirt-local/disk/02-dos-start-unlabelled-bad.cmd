virsh pool-start diskdos
