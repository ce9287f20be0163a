virsh pool-build fsxfs --no-overwrite
