virsh pool-build netcifs
