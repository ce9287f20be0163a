virsh pool-build fsvfat --overwrite
