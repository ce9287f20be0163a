virsh pool-start netgl
