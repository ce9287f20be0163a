virsh pool-undefine rbdpool
