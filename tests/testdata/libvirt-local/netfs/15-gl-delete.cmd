virsh pool-delete netgl
