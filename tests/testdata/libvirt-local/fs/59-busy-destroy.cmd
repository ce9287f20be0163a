virsh pool-destroy fsbusy
