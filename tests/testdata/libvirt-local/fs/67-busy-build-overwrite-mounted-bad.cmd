virsh pool-build fsbusy --overwrite
