virsh pool-destroy diskdos4
