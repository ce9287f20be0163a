virsh pool-start rbdnouuid
