virsh pool-undefine fsxfs
