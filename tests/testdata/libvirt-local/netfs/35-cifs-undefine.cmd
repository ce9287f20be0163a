virsh pool-undefine netcifs
