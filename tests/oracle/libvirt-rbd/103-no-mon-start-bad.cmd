virsh pool-start rbdnomon
