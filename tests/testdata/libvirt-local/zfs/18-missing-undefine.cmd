virsh pool-undefine zfsmissing
