virsh pool-destroy fsxfs
