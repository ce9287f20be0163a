virsh pool-build diskdos --no-overwrite
