virsh pool-undefine lvbyname
