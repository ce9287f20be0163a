virsh pool-undefine fsvfat
