virsh pool-destroy zfsmissing
