virsh pool-info fsbusy
