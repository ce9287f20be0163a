virsh pool-info diskdos
