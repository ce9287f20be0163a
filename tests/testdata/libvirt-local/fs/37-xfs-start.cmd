virsh pool-start fsxfs
