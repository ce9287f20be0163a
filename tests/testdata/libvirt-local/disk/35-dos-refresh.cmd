virsh pool-refresh diskdos
