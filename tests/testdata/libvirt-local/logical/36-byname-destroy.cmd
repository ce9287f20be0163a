virsh pool-destroy lvbyname
