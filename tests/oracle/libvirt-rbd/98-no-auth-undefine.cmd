virsh pool-undefine rbdnoauth
