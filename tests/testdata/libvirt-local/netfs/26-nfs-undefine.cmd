virsh pool-undefine netnfs
