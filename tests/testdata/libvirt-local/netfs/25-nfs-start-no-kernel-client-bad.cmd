virsh pool-start netnfs
