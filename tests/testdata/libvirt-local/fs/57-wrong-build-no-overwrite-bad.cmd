virsh pool-build fswrong --no-overwrite
