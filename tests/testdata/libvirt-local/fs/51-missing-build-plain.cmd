virsh pool-build fsmissing
