virsh pool-build lvpool --no-overwrite
