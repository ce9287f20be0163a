virsh pool-undefine zfsas
