virsh pool-define @WORK@/diskdos.xml
