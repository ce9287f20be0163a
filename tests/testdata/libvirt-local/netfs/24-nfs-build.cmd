virsh pool-build netnfs
