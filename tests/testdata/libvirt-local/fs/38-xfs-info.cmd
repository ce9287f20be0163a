virsh pool-info fsxfs
