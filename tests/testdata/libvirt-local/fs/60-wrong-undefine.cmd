virsh pool-undefine fswrong
