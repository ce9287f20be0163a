virsh pool-start fswrong
