virsh pool-start fsbusy
