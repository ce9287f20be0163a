virsh pool-undefine fsbusy
