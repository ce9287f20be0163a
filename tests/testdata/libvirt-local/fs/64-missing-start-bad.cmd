virsh pool-start fsmissing
