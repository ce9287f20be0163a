virsh pool-build fsxfs --overwrite
