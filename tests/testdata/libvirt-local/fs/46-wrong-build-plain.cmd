virsh pool-build fswrong
