virsh pool-undefine rbdnouuid
