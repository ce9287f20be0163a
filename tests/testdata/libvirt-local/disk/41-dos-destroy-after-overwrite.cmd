virsh pool-destroy diskdos
