virsh pool-info netgl
