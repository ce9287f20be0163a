virsh pool-undefine fsmissing
