virsh pool-start fsvfat
