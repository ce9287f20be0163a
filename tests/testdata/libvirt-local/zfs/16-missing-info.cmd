virsh pool-info zfsmissing
