virsh pool-build diskdos
