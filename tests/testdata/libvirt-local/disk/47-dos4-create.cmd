virsh pool-create @WORK@/diskdos4.xml
