virsh pool-build fsbusy
