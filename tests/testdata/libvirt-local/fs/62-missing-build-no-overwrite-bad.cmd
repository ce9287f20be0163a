virsh pool-build fsmissing --no-overwrite
