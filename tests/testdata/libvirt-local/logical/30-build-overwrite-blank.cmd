virsh pool-build lvpool --overwrite
