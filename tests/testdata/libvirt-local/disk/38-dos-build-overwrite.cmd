virsh pool-build diskdos --overwrite
