virsh pool-start netcifs
