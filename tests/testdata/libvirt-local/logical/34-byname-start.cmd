virsh pool-start lvbyname
