virsh pool-start zfsmissing
