virsh pool-refresh netgl
