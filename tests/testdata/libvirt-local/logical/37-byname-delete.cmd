virsh pool-delete lvbyname
