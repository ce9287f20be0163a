virsh pool-undefine rbdnomon
