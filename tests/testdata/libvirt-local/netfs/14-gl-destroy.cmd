virsh pool-destroy netgl
